//! KV-cache capacity from `gpu_memory_utilization`, as vLLM accounts for it
//! (sim-model.md §2.6), and the start-up errors vLLM raises when it does not fit.
//!
//! ```text
//! avail_kv   = gpus·G·util − W_total − gpus·(A + non-torch + CUDA graphs)
//! A          = max_num_batched_tokens·2 B·(3·FFN/TP + 6·d) + max_num_seqs·vocab·8 B
//! num_blocks = floor(avail_kv / (block_size · KV bytes per token))
//! ```

use thiserror::Error;

use crate::profile::{GIB, Hardware, ModelArch};
use crate::step_time::Parallelism;

/// Non-torch memory per GPU (CUDA context, NCCL buffers), GiB.
const NON_TORCH_GIB: f64 = 0.3;
/// Non-torch memory per GPU when the replica spans several GPUs, GiB.
const NON_TORCH_MULTI_GPU_GIB: f64 = 0.6;
/// Memory held by captured CUDA graphs per GPU, GiB (0 with `--enforce-eager`).
const CUDA_GRAPH_GIB: f64 = 0.5;

/// What the memory accounting needs to know.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemoryInputs {
    /// The model.
    pub arch: ModelArch,
    /// The GPU.
    pub hardware: Hardware,
    /// TP × PP GPUs per replica.
    pub parallelism: Parallelism,
    /// `--gpu-memory-utilization`.
    pub gpu_memory_utilization: f64,
    /// `--max-num-batched-tokens` (sizes the profiling run's activations).
    pub max_num_batched_tokens: u32,
    /// `--max-num-seqs` (sizes the sampler's logits buffer).
    pub max_num_seqs: u32,
    /// `--max-model-len`.
    pub max_model_len: u32,
    /// `--block-size`.
    pub block_size: u32,
    /// KV bytes per token summed over the replica's GPUs (after `--kv-cache-dtype`).
    pub kv_bytes_per_token: f64,
    /// `--enforce-eager`: no CUDA graphs, so no graph memory.
    pub enforce_eager: bool,
    /// `--num-gpu-blocks-override`.
    pub num_gpu_blocks_override: Option<u32>,
}

/// The outcome of the accounting, per replica.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemoryPlan {
    /// Weights held by each GPU, GiB.
    pub weights_gib_per_gpu: f64,
    /// Activation peak of the profiling run plus the sampler, per GPU, GiB.
    pub activation_gib_per_gpu: f64,
    /// Memory left for the KV cache, summed over the replica's GPUs, GiB.
    pub available_kv_gib: f64,
    /// Number of KV blocks.
    pub num_blocks: u32,
    /// Tokens the KV cache holds (`num_blocks · block_size`).
    pub capacity_tokens: u64,
    /// How many `max_model_len` requests fit at once.
    pub max_concurrency: f64,
}

/// A setting vLLM would refuse at start-up, with vLLM's wording.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum CapacityError {
    /// The weights alone do not fit on the GPUs.
    #[error(
        "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate {needed_gib:.2} GiB. \
         GPU 0 has a total capacity of {total_gib:.2} GiB (simulated: the weights need \
         {needed_gib:.2} GiB per GPU; use more GPUs with --tensor-parallel-size)"
    )]
    WeightsTooLarge {
        /// Weights per GPU, GiB.
        needed_gib: f64,
        /// Usable memory of one GPU, GiB.
        total_gib: f64,
    },
    /// Nothing is left for the KV cache.
    #[error(
        "ValueError: No available memory for the cache blocks. Try increasing \
         `gpu_memory_utilization` when initializing the engine. (simulated: \
         {budget_gib:.2} GiB allowed by gpu_memory_utilization={utilization} minus \
         {weights_gib:.2} GiB of weights and {overhead_gib:.2} GiB of activations, \
         non-torch memory and CUDA graphs leaves {available_gib:.2} GiB)"
    )]
    NoKvMemory {
        /// `gpus·G·util`, GiB.
        budget_gib: f64,
        /// The utilisation asked for.
        utilization: f64,
        /// All weights, GiB.
        weights_gib: f64,
        /// Activations, non-torch and graph memory over all GPUs, GiB.
        overhead_gib: f64,
        /// What is left (≤ 0), GiB.
        available_gib: f64,
    },
    /// One request of `max_model_len` tokens would not fit in the KV cache.
    #[error(
        "ValueError: The model's max seq len ({max_model_len}) is larger than the maximum \
         number of tokens that can be stored in KV cache ({capacity_tokens}). Try increasing \
         `gpu_memory_utilization` or decreasing `max_model_len` when initializing the engine."
    )]
    MaxModelLenTooLarge {
        /// `--max-model-len`.
        max_model_len: u32,
        /// Tokens the KV cache holds.
        capacity_tokens: u64,
    },
}

/// Account for memory the way vLLM does and size the KV cache.
pub fn plan_memory(m: &MemoryInputs) -> Result<MemoryPlan, CapacityError> {
    let tp = f64::from(m.parallelism.tp);
    let gpus = f64::from(m.parallelism.tp * m.parallelism.pp);
    let weights_gib = m.arch.weight_bytes() / GIB;
    let weights_gib_per_gpu = weights_gib / gpus;
    if weights_gib_per_gpu > m.hardware.hbm_gib {
        return Err(CapacityError::WeightsTooLarge {
            needed_gib: weights_gib_per_gpu,
            total_gib: m.hardware.hbm_gib,
        });
    }
    let activation_bytes = f64::from(m.max_num_batched_tokens)
        * 2.0
        * (3.0 * f64::from(m.arch.ffn) / tp + 6.0 * f64::from(m.arch.hidden))
        + f64::from(m.max_num_seqs) * f64::from(m.arch.vocab) * 8.0;
    let activation_gib_per_gpu = activation_bytes / GIB;
    let non_torch = if gpus > 1.0 {
        NON_TORCH_MULTI_GPU_GIB
    } else {
        NON_TORCH_GIB
    };
    let graphs = if m.enforce_eager { 0.0 } else { CUDA_GRAPH_GIB };
    let budget_gib = gpus * m.hardware.hbm_gib * m.gpu_memory_utilization;
    let overhead_gib = gpus * (activation_gib_per_gpu + non_torch + graphs);
    let available_kv_gib = budget_gib - weights_gib - overhead_gib;
    let block_bytes = f64::from(m.block_size) * m.kv_bytes_per_token;
    let num_blocks = match m.num_gpu_blocks_override {
        Some(n) => n,
        None => {
            if available_kv_gib <= 0.0 {
                return Err(CapacityError::NoKvMemory {
                    budget_gib,
                    utilization: m.gpu_memory_utilization,
                    weights_gib,
                    overhead_gib,
                    available_gib: available_kv_gib,
                });
            }
            (available_kv_gib * GIB / block_bytes)
                .floor()
                .min(f64::from(u32::MAX)) as u32
        }
    };
    let capacity_tokens = u64::from(num_blocks) * u64::from(m.block_size);
    if u64::from(m.max_model_len) > capacity_tokens {
        return Err(CapacityError::MaxModelLenTooLarge {
            max_model_len: m.max_model_len,
            capacity_tokens,
        });
    }
    Ok(MemoryPlan {
        weights_gib_per_gpu,
        activation_gib_per_gpu,
        available_kv_gib,
        num_blocks,
        capacity_tokens,
        max_concurrency: capacity_tokens as f64 / f64::from(m.max_model_len),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{H100, by_name};

    fn inputs(profile: &str, tp: u32, util: f64, max_model_len: u32) -> MemoryInputs {
        let p = by_name(profile).unwrap();
        MemoryInputs {
            arch: p.arch,
            hardware: H100,
            parallelism: Parallelism { tp, pp: 1 },
            gpu_memory_utilization: util,
            max_num_batched_tokens: 8192,
            max_num_seqs: 1024,
            max_model_len,
            block_size: 16,
            kv_bytes_per_token: p.arch.kv_bytes_per_token(),
            enforce_eager: false,
            num_gpu_blocks_override: None,
        }
    }

    fn tokens(profile: &str, tp: u32, util: f64) -> f64 {
        plan_memory(&inputs(profile, tp, util, 1024))
            .unwrap()
            .capacity_tokens as f64
    }

    #[test]
    fn capacities_match_the_reference_table() {
        // sim-model.md §2.6: 8B 438k / 179k / 49k / 17k; 70B TP4 462k / 151k / 47k; 0.6B 636k / 43k.
        let within = |actual: f64, expected: f64| (actual - expected).abs() < 0.03 * expected;
        assert!(within(tokens("llama-3-8b-h100", 1, 0.9), 438e3));
        assert!(within(tokens("llama-3-8b-h100", 1, 0.5), 179e3));
        assert!(within(tokens("llama-3-8b-h100", 1, 0.3), 49e3));
        assert!(within(tokens("llama-3-8b-h100", 1, 0.25), 17e3));
        assert!(within(tokens("llama-3-70b-h100-tp4", 4, 0.9), 462e3));
        assert!(within(tokens("llama-3-70b-h100-tp4", 4, 0.6), 151e3));
        assert!(within(tokens("llama-3-70b-h100-tp4", 4, 0.5), 47e3));
        assert!(within(tokens("qwen3-0.6b-h100", 1, 0.9), 636e3));
        assert!(within(tokens("qwen3-0.6b-h100", 1, 0.1), 43e3));
        // §2.9: 70B at TP2 ≈ 14k, TP8 ≈ 1.36M; TP4 more than doubles TP2.
        assert!(within(tokens("llama-3-70b-h100-tp4", 2, 0.9), 14e3));
        assert!(within(tokens("llama-3-70b-h100-tp4", 8, 0.9), 1.36e6));
    }

    #[test]
    fn refuses_what_vllm_refuses() {
        let err = plan_memory(&inputs("llama-3-70b-h100-tp4", 1, 0.9, 1024)).unwrap_err();
        assert!(
            matches!(err, CapacityError::WeightsTooLarge { .. }),
            "{err}"
        );
        let err = plan_memory(&inputs("llama-3-8b-h100", 1, 0.2, 1024)).unwrap_err();
        assert!(
            err.to_string()
                .contains("No available memory for the cache blocks")
        );
        let err = plan_memory(&inputs("llama-3-70b-h100-tp4", 2, 0.9, 131_072)).unwrap_err();
        assert!(
            err.to_string()
                .contains("max seq len (131072) is larger than the maximum"),
            "{err}"
        );
    }

    #[test]
    fn override_and_fp8_change_blocks() {
        let mut m = inputs("llama-3-8b-h100", 1, 0.9, 1024);
        let bf16 = plan_memory(&m).unwrap().num_blocks;
        m.kv_bytes_per_token /= 2.0;
        let fp8 = plan_memory(&m).unwrap().num_blocks;
        assert!(fp8 >= 2 * bf16 - 1 && fp8 <= 2 * bf16 + 1);
        m.num_gpu_blocks_override = Some(100);
        let plan = plan_memory(&m).unwrap();
        assert_eq!((plan.num_blocks, plan.capacity_tokens), (100, 1600));
    }
}
