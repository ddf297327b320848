//! Named performance profiles: a model's shape, the GPU it runs on, and the efficiency
//! constants of the step-time formula (sim-model.md §2.3), plus the two timing-only
//! profiles `fixed` and `instant`.
//!
//! A profile is data. The step-time formula lives in [`crate::step_time`], memory
//! accounting in [`crate::capacity`]; both read these numbers.

use std::fmt::Write as _;

/// Bytes per parameter and per KV element (BF16).
pub const DTYPE_BYTES: f64 = 2.0;
/// One GiB in bytes.
pub const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// One accelerator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hardware {
    /// Short name, e.g. `H100-80GB`.
    pub name: &'static str,
    /// Usable HBM per GPU, GiB (79.2 on an "80 GB" H100).
    pub hbm_gib: f64,
    /// HBM bandwidth, bytes/s.
    pub bandwidth: f64,
    /// Dense BF16 throughput, FLOP/s.
    pub flops: f64,
}

/// The shape of a dense decoder-only transformer (its HF `config.json`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelArch {
    /// Number of transformer layers `L`.
    pub layers: u32,
    /// Hidden size `d`.
    pub hidden: u32,
    /// Attention heads.
    pub heads: u32,
    /// KV heads (grouped-query attention).
    pub kv_heads: u32,
    /// Dimension of one head.
    pub head_dim: u32,
    /// MLP intermediate size.
    pub ffn: u32,
    /// Vocabulary size.
    pub vocab: u32,
    /// Whether the LM head shares the input embedding's weights.
    pub tied_embeddings: bool,
    /// `max_position_embeddings`: the largest `max_model_len` vLLM accepts.
    pub max_position: u32,
}

impl ModelArch {
    /// Parameters outside the embedding and LM head (attention + gated MLP).
    pub fn non_embedding_params(&self) -> f64 {
        let d = f64::from(self.hidden);
        let q = f64::from(self.heads * self.head_dim);
        let kv = f64::from(self.kv_heads * self.head_dim);
        let per_layer = d * q + 2.0 * d * kv + q * d + 3.0 * d * f64::from(self.ffn);
        per_layer * f64::from(self.layers)
    }

    /// Parameters of one embedding table (`vocab × d`).
    pub fn embedding_params(&self) -> f64 {
        f64::from(self.vocab) * f64::from(self.hidden)
    }

    /// Bytes of all weights, summed over GPUs.
    pub fn weight_bytes(&self) -> f64 {
        let tables = if self.tied_embeddings { 1.0 } else { 2.0 };
        DTYPE_BYTES * (self.non_embedding_params() + tables * self.embedding_params())
    }

    /// Bytes of weights one step streams from HBM, summed over GPUs: everything but the
    /// input embedding, which is a gather.
    pub fn streamed_weight_bytes(&self) -> f64 {
        DTYPE_BYTES * (self.non_embedding_params() + self.embedding_params())
    }

    /// KV-cache bytes per token, summed over GPUs, at BF16.
    pub fn kv_bytes_per_token(&self) -> f64 {
        2.0 * f64::from(self.layers * self.kv_heads * self.head_dim) * DTYPE_BYTES
    }
}

/// Efficiency constants of the step-time formula (sim-model.md §2.3, "Global constants").
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Efficiency {
    /// η_w: share of peak bandwidth reached when streaming weights.
    pub eta_weights: f64,
    /// η_kv: share of peak bandwidth reached by decode attention reads.
    pub eta_kv: f64,
    /// η_c: share of peak FLOP/s reached by GEMMs (0.40 for hidden < 2048).
    pub eta_gemm: f64,
    /// η_attn: share of peak FLOP/s reached by prefill flash-attention.
    pub eta_attn: f64,
    /// t_layer: fixed cost per layer per step, s (×2.5 with `--enforce-eager`).
    pub t_layer: f64,
    /// t_seq: GPU cost per scheduled sequence, s.
    pub t_seq: f64,
    /// α_ar: latency of one all-reduce, s.
    pub all_reduce_latency: f64,
    /// BW_ar: all-reduce bandwidth, bytes/s.
    pub all_reduce_bandwidth: f64,
    /// t_cpu0: host floor per step, s.
    pub t_cpu0: f64,
    /// t_cpu_seq: host cost per scheduled sequence, s.
    pub t_cpu_seq: f64,
}

/// Request-level overheads (sim-model.md §2.4).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Overheads {
    /// a0: HTTP parsing, template, tokenization and hand-off, s.
    pub ingress_base: f64,
    /// a1: ingress cost per prompt token, s.
    pub ingress_per_token: f64,
    /// t_out: from a step's end to its tokens leaving the server, s.
    pub emit_delay: f64,
}

/// How a profile turns load into time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Timing {
    /// The step-level model: a continuous-batching scheduler with the roofline step time.
    Roofline {
        /// The GPU.
        hardware: Hardware,
        /// The efficiency constants.
        efficiency: Efficiency,
    },
    /// Constant TTFT and inter-token time whatever the load (`--fixed-ttft-ms`,
    /// `--fixed-itl-ms`), for calibrating clients.
    Fixed,
    /// No model delay at all, for ceiling tests.
    Instant,
}

/// A named profile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    /// Name for `--profile`.
    pub name: &'static str,
    /// The model it serves by default (Hugging Face id).
    pub model: &'static str,
    /// One line for `--list-profiles`.
    pub summary: &'static str,
    /// The model's shape (also gives the tokenizer's vocabulary and the default
    /// `max_model_len` of `fixed` and `instant`).
    pub arch: ModelArch,
    /// How load turns into time.
    pub timing: Timing,
    /// Tensor-parallel size when `--tensor-parallel-size` is not given.
    pub default_tp: u32,
    /// `max_num_seqs` when not given (vLLM's default for the GPU).
    pub default_max_num_seqs: u32,
    /// `max_num_batched_tokens` when not given (vLLM's default for the GPU).
    pub default_max_num_batched_tokens: u32,
    /// Default `max_model_len`.
    pub default_max_model_len: u32,
    /// Request-level overheads.
    pub overheads: Overheads,
    /// Multiplies every start-up phase (toy profiles start faster).
    pub startup_factor: f64,
    /// Lower-case fragments a model name must all contain to select this profile.
    pub model_patterns: &'static [&'static [&'static str]],
}

/// The H100 SXM 80 GB.
pub const H100: Hardware = Hardware {
    name: "H100-80GB",
    hbm_gib: 79.2,
    bandwidth: 3.35e12,
    flops: 989e12,
};

/// Efficiencies fitted for H100 / BF16 / vLLM V1 (sim-model.md §2.3 and §2.5).
pub const H100_EFFICIENCY: Efficiency = Efficiency {
    eta_weights: 0.85,
    eta_kv: 0.88,
    eta_gemm: 0.65,
    eta_attn: 0.50,
    t_layer: 40e-6,
    t_seq: 5e-6,
    all_reduce_latency: 12e-6,
    all_reduce_bandwidth: 400e9,
    t_cpu0: 4e-3,
    t_cpu_seq: 10e-6,
};

const VLLM_OVERHEADS: Overheads = Overheads {
    ingress_base: 5e-3,
    ingress_per_token: 5e-6,
    emit_delay: 0.3e-3,
};

const LLAMA_3_8B: ModelArch = ModelArch {
    layers: 32,
    hidden: 4096,
    heads: 32,
    kv_heads: 8,
    head_dim: 128,
    ffn: 14336,
    vocab: 128_256,
    tied_embeddings: false,
    max_position: 131_072,
};

const LLAMA_3_70B: ModelArch = ModelArch {
    layers: 80,
    hidden: 8192,
    heads: 64,
    kv_heads: 8,
    head_dim: 128,
    ffn: 28672,
    vocab: 128_256,
    tied_embeddings: false,
    max_position: 131_072,
};

const QWEN3_0_6B: ModelArch = ModelArch {
    layers: 28,
    hidden: 1024,
    heads: 16,
    kv_heads: 8,
    head_dim: 128,
    ffn: 3072,
    vocab: 151_936,
    tied_embeddings: true,
    max_position: 40_960,
};

/// A toy model on a toy GPU, sized so one process saturates at 16–64 streams.
const TINY_ARCH: ModelArch = ModelArch {
    layers: 8,
    hidden: 512,
    heads: 8,
    kv_heads: 8,
    head_dim: 64,
    ffn: 2048,
    vocab: 32_000,
    tied_embeddings: true,
    max_position: 4096,
};

const TINY_GPU: Hardware = Hardware {
    name: "toy-2GB",
    hbm_gib: 2.0,
    bandwidth: 40e9,
    flops: 10e12,
};

const TINY_EFFICIENCY: Efficiency = Efficiency {
    t_cpu0: 1e-3,
    ..H100_EFFICIENCY
};

/// What `fixed` and `instant` share: no GPU model, no request overheads, the 8B's shape
/// (tokenizer vocabulary, default `max_model_len`) and vLLM's H100 batch defaults.
const TIMING_ONLY: Profile = Profile {
    name: "",
    model: "",
    summary: "",
    arch: LLAMA_3_8B,
    timing: Timing::Instant,
    default_tp: 1,
    default_max_num_seqs: 1024,
    default_max_num_batched_tokens: 8192,
    default_max_model_len: 131_072,
    overheads: Overheads {
        ingress_base: 0.0,
        ingress_per_token: 0.0,
        emit_delay: 0.0,
    },
    startup_factor: 0.05,
    model_patterns: &[],
};

/// The GEMM efficiency for a hidden size: small matrices reach less of the peak.
pub fn gemm_efficiency(base: f64, hidden: u32) -> f64 {
    if hidden < 2048 { base.min(0.40) } else { base }
}

/// Every named profile; the first is the default.
pub const PROFILES: &[Profile] = &[
    Profile {
        name: "llama-3-8b-h100",
        model: "meta-llama/Llama-3.1-8B-Instruct",
        summary: "Llama-3.1-8B-Instruct, BF16, 1x H100-80GB",
        arch: LLAMA_3_8B,
        timing: Timing::Roofline {
            hardware: H100,
            efficiency: H100_EFFICIENCY,
        },
        default_tp: 1,
        default_max_num_seqs: 1024,
        default_max_num_batched_tokens: 8192,
        default_max_model_len: 131_072,
        overheads: VLLM_OVERHEADS,
        startup_factor: 1.0,
        model_patterns: &[&["llama", "8b"]],
    },
    Profile {
        name: "llama-3-70b-h100-tp4",
        model: "meta-llama/Llama-3.1-70B-Instruct",
        summary: "Llama-3.1-70B-Instruct, BF16, 4x H100-80GB NVLink, TP=4",
        arch: LLAMA_3_70B,
        timing: Timing::Roofline {
            hardware: H100,
            efficiency: H100_EFFICIENCY,
        },
        default_tp: 4,
        default_max_num_seqs: 1024,
        default_max_num_batched_tokens: 8192,
        default_max_model_len: 131_072,
        overheads: VLLM_OVERHEADS,
        startup_factor: 1.0,
        model_patterns: &[&["llama", "70b"]],
    },
    Profile {
        name: "qwen3-0.6b-h100",
        model: "Qwen/Qwen3-0.6B",
        summary: "Qwen3-0.6B, BF16, tied embeddings, 1x H100-80GB (host-bound)",
        arch: QWEN3_0_6B,
        timing: Timing::Roofline {
            hardware: H100,
            efficiency: H100_EFFICIENCY,
        },
        default_tp: 1,
        default_max_num_seqs: 1024,
        default_max_num_batched_tokens: 8192,
        default_max_model_len: 40_960,
        overheads: VLLM_OVERHEADS,
        startup_factor: 1.0,
        model_patterns: &[&["qwen3", "0.6b"]],
    },
    Profile {
        name: "tiny",
        model: "llmsweep/tiny-sim",
        summary: "toy 50M model on a toy GPU: steps of a few ms, knees at 16-64 streams",
        arch: TINY_ARCH,
        timing: Timing::Roofline {
            hardware: TINY_GPU,
            efficiency: TINY_EFFICIENCY,
        },
        default_tp: 1,
        default_max_num_seqs: 32,
        default_max_num_batched_tokens: 2048,
        default_max_model_len: 4096,
        overheads: Overheads {
            ingress_base: 1e-3,
            ingress_per_token: 1e-6,
            emit_delay: 0.1e-3,
        },
        startup_factor: 0.05,
        model_patterns: &[&["tiny-sim"]],
    },
    Profile {
        name: "fixed",
        model: "llmsweep/fixed-sim",
        summary: "constant TTFT and inter-token time whatever the load (--fixed-ttft-ms, --fixed-itl-ms)",
        timing: Timing::Fixed,
        model_patterns: &[&["fixed-sim"]],
        ..TIMING_ONLY
    },
    Profile {
        name: "instant",
        model: "llmsweep/instant-sim",
        summary: "no model delay at all: every token is ready at once (ceiling tests)",
        timing: Timing::Instant,
        model_patterns: &[&["instant-sim"]],
        ..TIMING_ONLY
    },
];

/// The profile used when neither `--profile` nor a recognised model name picks one.
pub fn default_profile() -> &'static Profile {
    &PROFILES[0]
}

/// The profile called `name`.
pub fn by_name(name: &str) -> Option<&'static Profile> {
    PROFILES.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

/// The profile a model name selects: a profile's own name or model id, or a name holding
/// all fragments of one of its patterns (`meta-llama/Llama-3.1-8B-Instruct` →
/// `llama-3-8b-h100`).
pub fn for_model(model: &str) -> Option<&'static Profile> {
    let lower = model.to_ascii_lowercase();
    let base = lower.rsplit('/').next().unwrap_or(&lower);
    PROFILES
        .iter()
        .find(|p| p.name == base || p.model.eq_ignore_ascii_case(model))
        .or_else(|| {
            PROFILES.iter().find(|p| {
                p.model_patterns
                    .iter()
                    .any(|frags| frags.iter().all(|f| base.contains(f)))
            })
        })
}

/// Comma-separated profile names, for error messages.
pub fn names() -> String {
    let mut out = String::new();
    for (i, p) in PROFILES.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{}", p.name);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_counts_match_the_model_cards() {
        // sim-model.md §2.3 table: 6.98 B, 68.45 B, 0.44 B non-embedding parameters.
        let b = 1e9;
        assert!((LLAMA_3_8B.non_embedding_params() / b - 6.98).abs() < 0.01);
        assert!((LLAMA_3_70B.non_embedding_params() / b - 68.45).abs() < 0.01);
        assert!((QWEN3_0_6B.non_embedding_params() / b - 0.44).abs() < 0.01);
        // Weights streamed per step: 15.0 GB (8B), 1.19 GB (0.6B).
        assert!((LLAMA_3_8B.streamed_weight_bytes() / b - 15.0).abs() < 0.05);
        assert!((QWEN3_0_6B.streamed_weight_bytes() / b - 1.19).abs() < 0.01);
        // 8B weights: 14.96 GiB.
        assert!((LLAMA_3_8B.weight_bytes() / GIB - 14.96).abs() < 0.01);
        // KV bytes per token: 128 KiB, 320 KiB, 112 KiB.
        assert_eq!(LLAMA_3_8B.kv_bytes_per_token(), 131_072.0);
        assert_eq!(LLAMA_3_70B.kv_bytes_per_token(), 327_680.0);
        assert_eq!(QWEN3_0_6B.kv_bytes_per_token(), 114_688.0);
    }

    #[test]
    fn model_names_select_profiles() {
        let name = |m: &str| for_model(m).map(|p| p.name);
        assert_eq!(
            name("meta-llama/Llama-3.1-8B-Instruct"),
            Some("llama-3-8b-h100")
        );
        assert_eq!(name("meta-llama/Meta-Llama-3-8B"), Some("llama-3-8b-h100"));
        assert_eq!(
            name("meta-llama/Llama-3.3-70B-Instruct"),
            Some("llama-3-70b-h100-tp4")
        );
        assert_eq!(name("Qwen/Qwen3-0.6B"), Some("qwen3-0.6b-h100"));
        assert_eq!(name("tiny"), Some("tiny"));
        assert_eq!(name("llmsweep/tiny-sim"), Some("tiny"));
        assert_eq!(name("instant"), Some("instant"));
        assert_eq!(name("mistralai/Mistral-7B-v0.1"), None);
        assert_eq!(default_profile().name, "llama-3-8b-h100");
        assert_eq!(by_name("TINY").map(|p| p.name), Some("tiny"));
        assert!(names().contains("qwen3-0.6b-h100"));
    }
}
