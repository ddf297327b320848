//! From command-line settings to a validated simulator configuration: picks the profile,
//! applies vLLM's defaults, checks what vLLM would refuse, and sizes the KV cache.

use thiserror::Error;

use crate::capacity::{CapacityError, MemoryInputs, MemoryPlan, plan_memory};
use crate::engine::cluster::Cluster;
use crate::engine::fixed::FixedEngine;
use crate::engine::secs_to_ns;
use crate::engine::step::{SchedulerConfig, StepEngineConfig};
use crate::hashing::stream_seed;
use crate::metrics::CacheInfo;
use crate::profile::{self, Profile, Timing};
use crate::sim::{Backend, Simulator};
use crate::step_time::{Parallelism, StepCoefficients};
use crate::text::OutputIds;
use crate::tokenizer::SimTokenizer;

/// Default `--fixed-ttft-ms`.
pub const DEFAULT_FIXED_TTFT_MS: f64 = 20.0;
/// Default `--fixed-itl-ms`.
pub const DEFAULT_FIXED_ITL_MS: f64 = 10.0;
/// Block sizes vLLM accepts.
const BLOCK_SIZES: &[u32] = &[1, 8, 16, 32, 64, 128];
/// Tensor-parallel sizes the simulator models (one 8-GPU node).
const TP_SIZES: &[u32] = &[1, 2, 4, 8];

/// The settings that shape the simulation, as given on the command line (`None` = not
/// given: the profile's or vLLM's default applies).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SimOptions {
    /// `MODEL` / `--model`.
    pub model: Option<String>,
    /// `--served-model-name` (all names are accepted in requests; the first is listed).
    pub served_model_names: Vec<String>,
    /// `--profile`.
    pub profile: Option<String>,
    /// `--max-num-seqs`.
    pub max_num_seqs: Option<u32>,
    /// `--max-num-batched-tokens`.
    pub max_num_batched_tokens: Option<u32>,
    /// `--max-model-len`.
    pub max_model_len: Option<u32>,
    /// `--max-model-len auto` (or `-1`): as vLLM, the model's own limit
    /// (`max_position_embeddings`) cut to what the KV cache holds. Wins over
    /// `max_model_len`.
    pub max_model_len_auto: bool,
    /// `--gpu-memory-utilization` (0.9).
    pub gpu_memory_utilization: Option<f64>,
    /// `--enable-prefix-caching` / `--no-enable-prefix-caching` (on).
    pub enable_prefix_caching: Option<bool>,
    /// `--tensor-parallel-size`.
    pub tensor_parallel_size: Option<u32>,
    /// `--pipeline-parallel-size`.
    pub pipeline_parallel_size: Option<u32>,
    /// `--data-parallel-size`.
    pub data_parallel_size: Option<u32>,
    /// `--block-size` (16).
    pub block_size: Option<u32>,
    /// `--enforce-eager`.
    pub enforce_eager: bool,
    /// `--seed` (0).
    pub seed: Option<u64>,
    /// `--long-prefill-token-threshold` (0 = off).
    pub long_prefill_token_threshold: Option<u32>,
    /// `--kv-cache-dtype` (`auto`).
    pub kv_cache_dtype: Option<String>,
    /// `--num-gpu-blocks-override`.
    pub num_gpu_blocks_override: Option<u32>,
    /// `--fixed-ttft-ms` (profile `fixed` only).
    pub fixed_ttft_ms: Option<f64>,
    /// `--fixed-itl-ms` (profile `fixed` only).
    pub fixed_itl_ms: Option<f64>,
    /// `--admission-lag-steps` (1).
    pub admission_lag_steps: Option<u32>,
    /// `--step-jitter`: σ of the log-normal step-time noise (0 = off).
    pub step_jitter: Option<f64>,
}

/// A setting the simulator (like vLLM) refuses.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ConfigError {
    /// `--profile` names no profile.
    #[error("--profile {0:?} is not a profile; known profiles: {names}", names = profile::names())]
    UnknownProfile(String),
    /// A value outside what vLLM accepts.
    #[error("{flag} {value}: {reason}")]
    Invalid {
        /// The flag.
        flag: &'static str,
        /// The value given.
        value: String,
        /// What was expected, in vLLM's words where it has some.
        reason: String,
    },
    /// The memory accounting fails.
    #[error(transparent)]
    Capacity(#[from] CapacityError),
}

fn invalid(flag: &'static str, value: impl ToString, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        flag,
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The profile in use.
    pub profile: &'static Profile,
    /// The model id (`root` in `/v1/models`).
    pub model: String,
    /// Names requests may use; the first is listed as the model's `id`.
    pub served_model_names: Vec<String>,
    /// Warnings for the start-up log (e.g. an unknown model using the default profile).
    pub notes: Vec<String>,
    /// Information for the start-up log (e.g. what `--max-model-len auto` chose).
    pub info: Vec<String>,
    /// Scheduler limits (also used for request validation by every profile).
    pub scheduler: SchedulerConfig,
    /// TP and PP.
    pub parallelism: Parallelism,
    /// `--data-parallel-size`.
    pub data_parallel_size: u32,
    /// `--enforce-eager`.
    pub enforce_eager: bool,
    /// `--seed`.
    pub seed: u64,
    /// `--gpu-memory-utilization`.
    pub gpu_memory_utilization: f64,
    /// `--kv-cache-dtype` as given (`auto` by default).
    pub kv_cache_dtype: String,
    /// Memory accounting (roofline profiles only).
    pub memory: Option<MemoryPlan>,
    /// Step-time coefficients (roofline profiles only).
    pub coefficients: Option<StepCoefficients>,
    /// TTFT and inter-token time of `fixed` / `instant`, ns.
    pub fixed_latency_ns: Option<(u64, u64)>,
    /// `--step-jitter`.
    pub step_jitter: f64,
}

fn kv_dtype_factor(dtype: &str) -> Option<f64> {
    match dtype {
        "auto" | "bfloat16" | "float16" | "half" => Some(1.0),
        "fp8" | "fp8_e4m3" | "fp8_e5m2" | "fp8_inc" | "fp8_ds_mla" => Some(0.5),
        _ => None,
    }
}

/// A quantization marker in a model name (`…-FP8`, `…-AWQ`, `…-GPTQ-Int4`, `…-w4a16`).
fn quantized_tag(model: &str) -> Option<&'static str> {
    let base = model
        .rsplit('/')
        .next()
        .unwrap_or(model)
        .to_ascii_lowercase();
    let words: Vec<&str> = base.split(['-', '_', '.']).collect();
    [
        "fp8",
        "fp4",
        "nvfp4",
        "mxfp4",
        "int4",
        "int8",
        "awq",
        "gptq",
        "gguf",
        "bnb",
        "4bit",
        "8bit",
        "w4a16",
        "w8a8",
        "w8a16",
        "w4a8",
        "quantized",
    ]
    .into_iter()
    .find(|tag| words.contains(tag))
}

/// Resolve and validate the settings.
pub fn resolve(opts: &SimOptions) -> Result<SimConfig, ConfigError> {
    let mut notes = Vec::new();
    let profile = match (&opts.profile, &opts.model) {
        (Some(name), _) => {
            profile::by_name(name).ok_or_else(|| ConfigError::UnknownProfile(name.clone()))?
        }
        (None, Some(model)) => profile::for_model(model)
            .inspect(|p| {
                if let Some(tag) = quantized_tag(model) {
                    notes.push(format!(
                        "model {model:?} looks quantized ({tag}); profile {} simulates it with \
                         BF16 weights (the simulator does not model quantized weights)",
                        p.name
                    ));
                }
            })
            .unwrap_or_else(|| {
                let default = profile::default_profile();
                notes.push(format!(
                    "model {model:?} matches no profile; simulating it with the default profile \
                 {} (choose one with --profile)",
                    default.name
                ));
                default
            }),
        (None, None) => profile::default_profile(),
    };
    let model = opts
        .model
        .clone()
        .unwrap_or_else(|| profile.model.to_string());
    let served_model_names = if opts.served_model_names.is_empty() {
        vec![model.clone()]
    } else {
        opts.served_model_names.clone()
    };
    let arch = profile.arch;

    let tp = opts.tensor_parallel_size.unwrap_or(profile.default_tp);
    if !TP_SIZES.contains(&tp) {
        return Err(invalid(
            "--tensor-parallel-size",
            tp,
            "the simulator models one 8-GPU node: use 1, 2, 4 or 8",
        ));
    }
    if arch.heads % tp != 0 {
        return Err(invalid(
            "--tensor-parallel-size",
            tp,
            format!(
                "Total number of attention heads ({}) must be divisible by tensor parallel size ({tp}).",
                arch.heads
            ),
        ));
    }
    let pp = opts.pipeline_parallel_size.unwrap_or(1);
    if pp == 0 || pp > arch.layers || tp * pp > 8 {
        return Err(invalid(
            "--pipeline-parallel-size",
            pp,
            format!("need 1 ≤ PP ≤ {} layers and TP·PP ≤ 8 GPUs", arch.layers),
        ));
    }
    let dp = opts.data_parallel_size.unwrap_or(1);
    if dp == 0 {
        return Err(invalid("--data-parallel-size", dp, "must be at least 1"));
    }
    let util = opts.gpu_memory_utilization.unwrap_or(0.9);
    if !(util > 0.0 && util <= 1.0) {
        return Err(invalid(
            "--gpu-memory-utilization",
            util,
            "GPU memory utilization must be in (0, 1].",
        ));
    }
    let block_size = opts.block_size.unwrap_or(16);
    if !BLOCK_SIZES.contains(&block_size) {
        return Err(invalid(
            "--block-size",
            block_size,
            "expected one of 1, 8, 16, 32, 64, 128",
        ));
    }
    let max_model_len = if opts.max_model_len_auto {
        arch.max_position
    } else {
        opts.max_model_len.unwrap_or(profile.default_max_model_len)
    };
    if max_model_len > arch.max_position {
        return Err(invalid(
            "--max-model-len",
            max_model_len,
            format!(
                "User-specified max_model_len ({max_model_len}) is greater than the derived \
                 max_model_len (max_position_embeddings={} in model's config.json).",
                arch.max_position
            ),
        ));
    }
    if max_model_len < 2 {
        return Err(invalid(
            "--max-model-len",
            max_model_len,
            "must be at least 2",
        ));
    }
    let max_num_seqs = opts.max_num_seqs.unwrap_or(profile.default_max_num_seqs);
    if max_num_seqs == 0 {
        return Err(invalid(
            "--max-num-seqs",
            max_num_seqs,
            "must be at least 1",
        ));
    }
    let max_num_batched_tokens = opts
        .max_num_batched_tokens
        .unwrap_or(profile.default_max_num_batched_tokens);
    if max_num_batched_tokens < max_num_seqs {
        return Err(invalid(
            "--max-num-batched-tokens",
            max_num_batched_tokens,
            format!(
                "max_num_batched_tokens ({max_num_batched_tokens}) must be greater than or \
                 equal to max_num_seqs ({max_num_seqs})."
            ),
        ));
    }
    let kv_cache_dtype = opts.kv_cache_dtype.clone().unwrap_or_else(|| "auto".into());
    let kv_factor = kv_dtype_factor(&kv_cache_dtype).ok_or_else(|| {
        invalid(
            "--kv-cache-dtype",
            &kv_cache_dtype,
            "expected auto, bfloat16, float16, fp8, fp8_e4m3 or fp8_e5m2",
        )
    })?;
    let lag = opts.admission_lag_steps.unwrap_or(1);
    if lag > 1 {
        return Err(invalid("--admission-lag-steps", lag, "expected 0 or 1"));
    }
    let jitter = opts.step_jitter.unwrap_or(0.0);
    if !(0.0..=1.0).contains(&jitter) {
        return Err(invalid(
            "--step-jitter",
            jitter,
            "expected a σ between 0 and 1",
        ));
    }
    let is_fixed = matches!(profile.timing, Timing::Fixed);
    for (flag, value) in [
        ("--fixed-ttft-ms", opts.fixed_ttft_ms),
        ("--fixed-itl-ms", opts.fixed_itl_ms),
    ] {
        match value {
            Some(v) if !is_fixed => {
                return Err(invalid(flag, v, "only applies to --profile fixed"));
            }
            Some(v) if !(v >= 0.0 && v.is_finite()) => {
                return Err(invalid(flag, v, "expected a non-negative number of ms"));
            }
            _ => {}
        }
    }

    let parallelism = Parallelism { tp, pp };
    let kv_bytes = arch.kv_bytes_per_token() * kv_factor;
    let mut max_model_len = max_model_len;
    let mut info = Vec::new();
    let (memory, coefficients, fixed_latency_ns, num_blocks) = match profile.timing {
        Timing::Roofline {
            hardware,
            efficiency,
        } => {
            let mut inputs = MemoryInputs {
                arch,
                hardware,
                parallelism,
                gpu_memory_utilization: util,
                max_num_batched_tokens,
                max_num_seqs,
                max_model_len,
                block_size,
                kv_bytes_per_token: kv_bytes,
                enforce_eager: opts.enforce_eager,
                num_gpu_blocks_override: opts.num_gpu_blocks_override,
            };
            if opts.max_model_len_auto {
                // vLLM's auto-fit: the longest request the KV cache holds, at most the
                // model's own limit.
                let capacity = plan_memory(&MemoryInputs {
                    max_model_len: 0,
                    ..inputs
                })?
                .capacity_tokens;
                if capacity < 2 {
                    return Err(invalid(
                        "--max-model-len",
                        "auto",
                        "Cannot auto-fit max_model_len: not enough GPU memory available to \
                         serve even a single token. Try increasing `gpu_memory_utilization`.",
                    ));
                }
                let fitted = u32::try_from(capacity)
                    .unwrap_or(u32::MAX)
                    .min(max_model_len);
                if fitted < max_model_len {
                    info.push(format!(
                        "Auto-fit max_model_len: reduced from {max_model_len} to {fitted} to \
                         fit in available KV cache memory"
                    ));
                } else {
                    info.push(format!(
                        "Auto-fit max_model_len: full model context length {max_model_len} \
                         fits in available KV cache memory"
                    ));
                }
                max_model_len = fitted;
                inputs.max_model_len = fitted;
            }
            let plan = plan_memory(&inputs)?;
            let coefficients = StepCoefficients::new(
                &arch,
                &hardware,
                &efficiency,
                parallelism,
                opts.enforce_eager,
                kv_bytes,
            );
            (Some(plan), Some(coefficients), None, plan.num_blocks)
        }
        Timing::Fixed => {
            let ttft = opts.fixed_ttft_ms.unwrap_or(DEFAULT_FIXED_TTFT_MS);
            let itl = opts.fixed_itl_ms.unwrap_or(DEFAULT_FIXED_ITL_MS);
            (
                None,
                None,
                Some((secs_to_ns(ttft / 1e3), secs_to_ns(itl / 1e3))),
                0,
            )
        }
        Timing::Instant => (None, None, Some((0, 0)), 0),
    };
    Ok(SimConfig {
        profile,
        model,
        served_model_names,
        notes,
        info,
        scheduler: SchedulerConfig {
            max_num_seqs,
            max_num_batched_tokens,
            max_model_len,
            block_size,
            num_blocks,
            long_prefill_token_threshold: opts.long_prefill_token_threshold.unwrap_or(0),
            enable_prefix_caching: opts.enable_prefix_caching.unwrap_or(true),
            admission_lag_steps: lag,
        },
        parallelism,
        data_parallel_size: dp,
        enforce_eager: opts.enforce_eager,
        seed: opts.seed.unwrap_or(0),
        gpu_memory_utilization: util,
        kv_cache_dtype,
        memory,
        coefficients,
        fixed_latency_ns,
        step_jitter: jitter,
    })
}

impl SimConfig {
    /// The simulated tokenizer for this model.
    pub fn tokenizer(&self) -> SimTokenizer {
        SimTokenizer::new(self.profile.arch.vocab)
    }

    /// What makes two starts share a compile cache: model, profile and parallelism.
    pub fn cache_key(&self) -> String {
        format!(
            "model={} profile={} tp={} pp={} kv_cache_dtype={}",
            self.model,
            self.profile.name,
            self.parallelism.tp,
            self.parallelism.pp,
            self.kv_cache_dtype
        )
    }

    /// Facts for `vllm:cache_config_info`.
    pub fn cache_info(&self) -> CacheInfo {
        CacheInfo {
            block_size: self.scheduler.block_size,
            num_gpu_blocks: self.scheduler.num_blocks,
            enable_prefix_caching: self.scheduler.enable_prefix_caching,
            gpu_memory_utilization: self.gpu_memory_utilization,
        }
    }

    /// A fresh simulator in its initial state.
    pub fn build(&self) -> Simulator {
        let backend = match (self.coefficients, self.fixed_latency_ns) {
            (Some(coefficients), _) => {
                let o = self.profile.overheads;
                let cfg = StepEngineConfig {
                    scheduler: self.scheduler,
                    coefficients,
                    ingress_base_ns: secs_to_ns(o.ingress_base),
                    ingress_per_token_ns: o.ingress_per_token * 1e9,
                    emit_delay_ns: secs_to_ns(o.emit_delay),
                    jitter_sigma: self.step_jitter,
                    jitter_seed: stream_seed(self.seed, "step-jitter"),
                    output_ids: OutputIds::new(&self.tokenizer()),
                };
                Backend::Steps(Cluster::new(&cfg, self.data_parallel_size))
            }
            (None, latency) => {
                let (ttft, itl) = latency.unwrap_or((0, 0));
                Backend::Fixed(FixedEngine::new(ttft, itl))
            }
        };
        Simulator::new(backend, self.cache_info(), self.scheduler.max_model_len)
    }
}

/// The `--list-profiles` table: each profile with its key figures at default settings.
pub fn describe_profiles() -> String {
    use std::fmt::Write as _;
    let mut out = format!(
        "{:<22} {:<34} {:<16} {:>9} {:>11} {:>12} {:>8} {:>10}\n",
        "PROFILE", "MODEL", "GPUS", "TPOT@1", "PREFILL", "KV@0.9", "MAX_LEN", "SEQS/TOK"
    );
    for p in profile::PROFILES {
        let Ok(c) = resolve(&SimOptions {
            profile: Some(p.name.into()),
            ..SimOptions::default()
        }) else {
            continue;
        };
        let gpus = match p.timing {
            Timing::Roofline { hardware, .. } => format!("{}x {}", p.default_tp, hardware.name),
            Timing::Fixed | Timing::Instant => "-".into(),
        };
        let (tpot, prefill, kv) = match (c.coefficients, c.memory) {
            (Some(k), Some(m)) => (
                format!("{:.1} ms", k.batch1_tpot(256) * 1e3),
                format!("{:.0}k tok/s", 8192.0 / k.prefill_seconds(8192, 8192) / 1e3),
                format!("{:.0}k tok", m.capacity_tokens as f64 / 1e3),
            ),
            _ => {
                let (ttft, itl) = c.fixed_latency_ns.unwrap_or((0, 0));
                (
                    format!("{:.1} ms", itl as f64 / 1e6),
                    format!("TTFT {:.0} ms", ttft as f64 / 1e6),
                    "-".into(),
                )
            }
        };
        let _ = writeln!(
            out,
            "{:<22} {:<34} {:<16} {:>9} {:>11} {:>12} {:>8} {:>10}",
            p.name,
            p.model,
            gpus,
            tpot,
            prefill,
            kv,
            c.scheduler.max_model_len,
            format!(
                "{}/{}",
                c.scheduler.max_num_seqs, c.scheduler.max_num_batched_tokens
            ),
        );
    }
    out.push_str("\nTPOT@1: one stream at 256 tokens of context. PREFILL: one 8k-token prompt. KV@0.9: KV-cache tokens at\n--gpu-memory-utilization 0.9. fixed: --fixed-ttft-ms / --fixed-itl-ms set its latencies. A model name\ncontaining a profile's model (e.g. Llama-3.1-8B) selects it; --profile overrides.\n");
    for p in profile::PROFILES {
        let _ = writeln!(out, "  {:<22} {}", p.name, p.summary);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> SimOptions {
        SimOptions::default()
    }

    #[test]
    fn defaults_follow_vllm_and_the_default_profile() {
        let c = resolve(&opts()).unwrap();
        assert_eq!(c.profile.name, "llama-3-8b-h100");
        assert_eq!(c.model, "meta-llama/Llama-3.1-8B-Instruct");
        assert_eq!(c.served_model_names, std::slice::from_ref(&c.model));
        assert_eq!(
            (c.scheduler.max_num_seqs, c.scheduler.max_num_batched_tokens),
            (1024, 8192)
        );
        assert_eq!(c.scheduler.max_model_len, 131_072);
        assert!(c.scheduler.enable_prefix_caching);
        assert!(c.notes.is_empty() && c.info.is_empty());
        let blocks = c.memory.unwrap().num_blocks;
        assert!((27_000..28_000).contains(&blocks), "{blocks}");
    }

    #[test]
    fn model_name_picks_profile_and_unknown_models_are_noted() {
        let mut o = opts();
        o.model = Some("meta-llama/Llama-3.1-70B-Instruct".into());
        let c = resolve(&o).unwrap();
        assert_eq!(
            (c.profile.name, c.parallelism.tp),
            ("llama-3-70b-h100-tp4", 4)
        );
        o.model = Some("acme/mystery-13b".into());
        let c = resolve(&o).unwrap();
        assert_eq!(c.profile.name, "llama-3-8b-h100");
        assert_eq!(c.model, "acme/mystery-13b");
        assert_eq!(c.notes.len(), 1);
        // A quantized checkpoint of a profiled model: that profile, and a note that the
        // weights are simulated as BF16.
        o.model = Some("RedHatAI/Llama-3.1-8B-Instruct-FP8".into());
        let c = resolve(&o).unwrap();
        assert_eq!(c.profile.name, "llama-3-8b-h100");
        assert_eq!(c.notes.len(), 1);
        assert!(c.notes[0].contains("(fp8)"), "{:?}", c.notes);
        o.model = Some("meta-llama/Llama-3.1-8B-Instruct".into());
        assert!(resolve(&o).unwrap().notes.is_empty());
        o.profile = Some("nope".into());
        assert!(matches!(resolve(&o), Err(ConfigError::UnknownProfile(_))));
    }

    #[test]
    fn refuses_what_vllm_refuses() {
        let err = |f: fn(&mut SimOptions)| {
            let mut o = opts();
            f(&mut o);
            resolve(&o).unwrap_err().to_string()
        };
        assert!(err(|o| o.tensor_parallel_size = Some(3)).contains("1, 2, 4 or 8"));
        assert!(err(|o| o.gpu_memory_utilization = Some(1.5)).contains("(0, 1]"));
        assert!(err(|o| o.gpu_memory_utilization = Some(0.1)).contains("No available memory"));
        assert!(err(|o| o.block_size = Some(7)).contains("--block-size 7"));
        assert!(
            err(|o| o.max_model_len = Some(200_000)).contains("max_position_embeddings=131072")
        );
        assert!(
            err(|o| {
                o.max_num_seqs = Some(512);
                o.max_num_batched_tokens = Some(256);
            })
            .contains("must be greater than or equal to max_num_seqs (512)")
        );
        assert!(
            err(|o| {
                o.profile = Some("llama-3-70b-h100-tp4".into());
                o.tensor_parallel_size = Some(2);
            })
            .contains("max seq len (131072) is larger")
        );
        assert!(err(|o| o.fixed_itl_ms = Some(5.0)).contains("only applies to --profile fixed"));
        assert!(err(|o| o.kv_cache_dtype = Some("int3".into())).contains("--kv-cache-dtype"));
    }

    #[test]
    fn profile_table_lists_key_figures() {
        let table = describe_profiles();
        for needle in [
            "llama-3-8b-h100",
            "6.6 ms",
            "438k tok",
            "llama-3-70b-h100-tp4",
            "4x H100-80GB",
            "17.3 ms",
            "qwen3-0.6b-h100",
            "tiny",
            "fixed",
            "instant",
        ] {
            assert!(table.contains(needle), "missing {needle}:\n{table}");
        }
    }

    #[test]
    fn max_model_len_auto_fits_the_kv_cache_as_vllm_does() {
        // Room for the model's whole context: its max_position_embeddings.
        let mut o = opts();
        o.max_model_len_auto = true;
        o.max_model_len = Some(1000);
        let c = resolve(&o).unwrap();
        assert_eq!(c.scheduler.max_model_len, c.profile.arch.max_position);
        assert!(
            c.info[0].contains("full model context length"),
            "{:?}",
            c.info
        );
        // Less room than that: as much as the KV cache holds, where a fixed length that
        // long is refused.
        o.num_gpu_blocks_override = Some(1000);
        let c = resolve(&o).unwrap();
        assert_eq!(c.scheduler.max_model_len, 16_000);
        assert!(
            c.info[0].contains("reduced from 131072 to 16000"),
            "{:?}",
            c.info
        );
        let m = c.memory.unwrap();
        assert!(
            (m.max_concurrency - 1.0).abs() < 1e-9,
            "{}",
            m.max_concurrency
        );
        o.max_model_len_auto = false;
        o.max_model_len = Some(16_001);
        assert!(
            resolve(&o)
                .unwrap_err()
                .to_string()
                .contains("max seq len (16001)")
        );
        o.max_model_len_auto = true;
        o.num_gpu_blocks_override = Some(0);
        assert!(
            resolve(&o)
                .unwrap_err()
                .to_string()
                .contains("Cannot auto-fit max_model_len")
        );
        // Profiles without memory accounting use the model's limit.
        let mut o = opts();
        o.profile = Some("fixed".into());
        o.max_model_len_auto = true;
        let c = resolve(&o).unwrap();
        assert_eq!(c.scheduler.max_model_len, c.profile.arch.max_position);
    }

    #[test]
    fn fixed_profile_takes_its_latencies() {
        let mut o = opts();
        o.profile = Some("fixed".into());
        o.fixed_ttft_ms = Some(30.0);
        let c = resolve(&o).unwrap();
        assert_eq!(c.fixed_latency_ns, Some((30_000_000, 10_000_000)));
        assert!(c.memory.is_none());
    }
}
