//! The roofline step-time formula (sim-model.md §2.3):
//!
//! ```text
//! T_gpu = L·t_layer + √(T_w² + (N·c_tok)²) + D·c_kv + A·c_attn + T_tp(N) + B·t_seq
//! T_cpu = t_cpu0 + B·t_cpu_seq
//! step  = max(T_gpu, T_cpu)
//! ```
//!
//! `N` tokens and `B` sequences are scheduled; `D` is the summed context of the decodes;
//! `A = Σ n·(c₀ + n/2)` over prefill chunks of `n` tokens starting at context `c₀`.
//! Tensor parallelism divides the weight, GEMM and KV terms and adds two all-reduces per
//! layer (§2.9). Pipeline stages run one after another for a batch (no micro-batching is
//! modelled), so pipeline parallelism adds one hop per stage boundary and memory, not speed.

use crate::profile::{DTYPE_BYTES, Efficiency, Hardware, ModelArch, gemm_efficiency};

/// How a replica is split over GPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parallelism {
    /// Tensor-parallel size.
    pub tp: u32,
    /// Pipeline-parallel size.
    pub pp: u32,
}

/// What one step computes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BatchShape {
    /// `N`: tokens scheduled.
    pub tokens: u64,
    /// `B`: sequences scheduled.
    pub seqs: u64,
    /// `D`: summed context length of the decoding sequences.
    pub decode_context: u64,
    /// `A`: causal-attention work of the prefill chunks, token × context tokens.
    pub prefill_attention: f64,
}

impl BatchShape {
    /// Add one decoding sequence whose context (prompt + generated) is `context` tokens.
    pub fn add_decode(&mut self, context: u64) {
        self.tokens += 1;
        self.seqs += 1;
        self.decode_context += context;
    }

    /// Add a prefill chunk of `n` tokens that starts after `start` computed tokens.
    pub fn add_prefill(&mut self, start: u64, n: u64) {
        self.tokens += n;
        self.seqs += 1;
        self.prefill_attention += n as f64 * (start as f64 + n as f64 / 2.0);
    }
}

/// The formula's coefficients for one model × GPU × parallelism, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepCoefficients {
    /// `L·t_layer` plus the latency part of TP all-reduces and PP hops.
    pub fixed: f64,
    /// `T_w`: time to stream the weights once.
    pub weights: f64,
    /// `c_tok`: GEMM time per token.
    pub per_token: f64,
    /// Communication time per token (TP all-reduce and PP hop bandwidth terms).
    pub per_token_comm: f64,
    /// `c_kv`: decode attention time per context token.
    pub per_context_token: f64,
    /// `c_attn`: prefill attention time per token × context token.
    pub per_attention: f64,
    /// `t_seq`: GPU time per scheduled sequence.
    pub per_seq: f64,
    /// `t_cpu0`: host floor per step.
    pub host_base: f64,
    /// `t_cpu_seq`: host time per scheduled sequence.
    pub host_per_seq: f64,
}

/// How much `--enforce-eager` (no CUDA graphs) stretches the per-layer overhead.
pub const EAGER_LAYER_FACTOR: f64 = 2.5;

impl StepCoefficients {
    /// Derive the coefficients. `kv_bytes_per_token` is summed over all GPUs of the
    /// replica (it halves with an FP8 KV cache).
    pub fn new(
        arch: &ModelArch,
        hardware: &Hardware,
        eff: &Efficiency,
        par: Parallelism,
        enforce_eager: bool,
        kv_bytes_per_token: f64,
    ) -> Self {
        let tp = f64::from(par.tp);
        let layers = f64::from(arch.layers);
        let hidden = f64::from(arch.hidden);
        let kv_split = f64::from(par.tp.min(arch.kv_heads));
        let t_layer = if enforce_eager {
            eff.t_layer * EAGER_LAYER_FACTOR
        } else {
            eff.t_layer
        };
        let eta_gemm = gemm_efficiency(eff.eta_gemm, arch.hidden);
        let activation_bytes = hidden * DTYPE_BYTES;
        let mut fixed = layers * t_layer;
        let mut per_token_comm = 0.0;
        if par.tp > 1 {
            fixed += 2.0 * layers * eff.all_reduce_latency;
            per_token_comm += 2.0 * layers * activation_bytes / eff.all_reduce_bandwidth;
        }
        if par.pp > 1 {
            let hops = f64::from(par.pp - 1);
            fixed += hops * eff.all_reduce_latency;
            per_token_comm += hops * activation_bytes / eff.all_reduce_bandwidth;
        }
        Self {
            fixed,
            weights: arch.streamed_weight_bytes() / tp / (hardware.bandwidth * eff.eta_weights),
            per_token: 2.0 * arch.non_embedding_params() / tp / (hardware.flops * eta_gemm),
            per_token_comm,
            per_context_token: kv_bytes_per_token / kv_split / (hardware.bandwidth * eff.eta_kv),
            per_attention: 4.0 * layers * f64::from(arch.heads * arch.head_dim)
                / tp
                / (hardware.flops * eff.eta_attn),
            per_seq: eff.t_seq,
            host_base: eff.t_cpu0,
            host_per_seq: eff.t_cpu_seq,
        }
    }

    /// GPU time of one step, s.
    pub fn gpu_seconds(&self, b: &BatchShape) -> f64 {
        let n = b.tokens as f64;
        let linear = self.weights.hypot(n * self.per_token);
        self.fixed
            + linear
            + b.decode_context as f64 * self.per_context_token
            + b.prefill_attention * self.per_attention
            + n * self.per_token_comm
            + b.seqs as f64 * self.per_seq
    }

    /// Host time of one step, s.
    pub fn host_seconds(&self, b: &BatchShape) -> f64 {
        self.host_base + b.seqs as f64 * self.host_per_seq
    }

    /// Length of one step, s (before jitter).
    pub fn step_seconds(&self, b: &BatchShape) -> f64 {
        self.gpu_seconds(b).max(self.host_seconds(b))
    }

    /// Predicted inter-token time of a single stream at `context` tokens, s.
    pub fn batch1_tpot(&self, context: u64) -> f64 {
        let mut b = BatchShape::default();
        b.add_decode(context);
        self.step_seconds(&b)
    }

    /// Time to prefill a `prompt`-token prompt alone in chunks of `budget`, s.
    pub fn prefill_seconds(&self, prompt: u64, budget: u64) -> f64 {
        let mut done = 0;
        let mut total = 0.0;
        while done < prompt {
            let n = budget.min(prompt - done);
            let mut b = BatchShape::default();
            b.add_prefill(done, n);
            total += self.step_seconds(&b);
            done += n;
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{H100, H100_EFFICIENCY, by_name};

    fn coeffs(profile: &str, tp: u32, eager: bool) -> StepCoefficients {
        let p = by_name(profile).unwrap();
        StepCoefficients::new(
            &p.arch,
            &H100,
            &H100_EFFICIENCY,
            Parallelism { tp, pp: 1 },
            eager,
            p.arch.kv_bytes_per_token(),
        )
    }

    fn close(actual: f64, expected: f64, rel: f64) -> bool {
        (actual - expected).abs() <= rel * expected.abs()
    }

    #[test]
    fn coefficients_match_the_reference_table() {
        // sim-model.md §2.3: T_w, c_tok, c_kv, c_attn, L·t_layer per profile.
        let c = coeffs("llama-3-8b-h100", 1, false);
        assert!(close(c.weights, 5.27e-3, 0.01), "{}", c.weights);
        assert!(close(c.per_token, 21.7e-6, 0.01), "{}", c.per_token);
        assert!(close(c.per_context_token, 44.5e-9, 0.01));
        assert!(close(c.per_attention, 1.06e-9, 0.01));
        assert!(close(c.fixed, 1.28e-3, 0.001));
        let c = coeffs("llama-3-70b-h100-tp4", 4, false);
        assert!(close(c.weights, 12.2e-3, 0.01), "{}", c.weights);
        assert!(close(c.per_token, 53.2e-6, 0.01));
        assert!(close(c.per_context_token, 27.8e-9, 0.01));
        assert!(close(c.per_attention, 1.33e-9, 0.01));
        assert!(close(c.fixed, 3.20e-3 + 1.92e-3, 0.001));
        assert!(close(c.per_token_comm, 6.6e-6, 0.01));
        let c = coeffs("qwen3-0.6b-h100", 1, false);
        assert!(close(c.weights, 0.42e-3, 0.01));
        assert!(close(c.per_token, 2.2e-6, 0.02));
        assert!(close(c.per_context_token, 38.9e-9, 0.01));
        assert!(close(c.per_attention, 0.46e-9, 0.01));
    }

    #[test]
    fn batch_one_tpot_matches_predictions() {
        assert!(close(
            coeffs("llama-3-8b-h100", 1, false).batch1_tpot(200),
            6.6e-3,
            0.02
        ));
        assert!(close(
            coeffs("llama-3-70b-h100-tp4", 4, false).batch1_tpot(200),
            17.4e-3,
            0.02
        ));
        // Qwen3-0.6B is host-bound: t_cpu0 + t_cpu_seq.
        assert!(close(
            coeffs("qwen3-0.6b-h100", 1, false).batch1_tpot(200),
            4.01e-3,
            0.01
        ));
    }

    #[test]
    fn tensor_parallel_tpot_shrinks_less_than_linearly() {
        // §2.9: 70B at batch 1, TP2 → TP4 → TP8 ≈ 29.6 → 17.3 → 11.2 ms.
        let t2 = coeffs("llama-3-70b-h100-tp4", 2, false).batch1_tpot(100);
        let t4 = coeffs("llama-3-70b-h100-tp4", 4, false).batch1_tpot(100);
        let t8 = coeffs("llama-3-70b-h100-tp4", 8, false).batch1_tpot(100);
        assert!(close(t2, 29.6e-3, 0.03), "{t2}");
        assert!(close(t4, 17.3e-3, 0.03), "{t4}");
        assert!(close(t8, 11.2e-3, 0.03), "{t8}");
    }

    #[test]
    fn prefill_throughput_and_attention() {
        let c = coeffs("llama-3-8b-h100", 1, false);
        // Large-chunk linear throughput ≈ 46k tok/s; ≈ 38k with attention at 8k.
        let mut b = BatchShape::default();
        b.add_prefill(0, 8192);
        let with_attention = 8192.0 / c.step_seconds(&b);
        assert!((36e3..40e3).contains(&with_attention), "{with_attention}");
        // TTFT(32k) > 4.5 × TTFT(8k) (behaviour 11).
        let t8 = c.prefill_seconds(8192, 8192);
        let t32 = c.prefill_seconds(32768, 8192);
        assert!(t32 > 4.5 * t8, "{t32} vs {t8}");
    }

    #[test]
    fn eager_mode_raises_small_batch_tpot() {
        let graphs = coeffs("llama-3-8b-h100", 1, false).batch1_tpot(100);
        let eager = coeffs("llama-3-8b-h100", 1, true).batch1_tpot(100);
        assert!(eager > graphs + 1.5e-3);
    }

    #[test]
    fn decode_context_adds_kv_reads() {
        // Behaviour 2: 64 sequences, 2k → 4k context adds ≈ 64·2048·c_kv ≈ 5.8 ms.
        let c = coeffs("llama-3-8b-h100", 1, false);
        let step = |ctx| {
            let mut b = BatchShape::default();
            for _ in 0..64 {
                b.add_decode(ctx);
            }
            c.step_seconds(&b)
        };
        let delta = step(4096) - step(2048);
        assert!(close(delta, 5.8e-3, 0.03), "{delta}");
    }
}
