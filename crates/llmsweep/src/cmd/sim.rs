//! `llmsweep sim`: the simulated vLLM-compatible server.
//!
//! It takes a `vllm serve` command line. The flags that shape performance are parsed into
//! [`SimFlags`]; any other vLLM flag is accepted (so real parameter files work unchanged)
//! and named once on stderr, or refused with `--strict`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::{CommandFactory as _, Parser};
use llmsweep_sim::config::{SimOptions, describe_profiles, resolve};
use llmsweep_sim::server::{ServeOptions, serve};
use llmsweep_sim::startup::default_cache_root;
use llmsweep_sim::vllm_argv::{FlagKind, split_vllm_argv};

/// Flags of this subcommand: a `vllm serve` command line (see `llmsweep sim --help`).
#[derive(Debug, clap::Args)]
#[command(disable_help_flag = true)]
pub struct Args {
    /// `[MODEL] [vLLM and simulator flags…]`; run `llmsweep sim --help` for the list.
    #[arg(
        num_args = 0..,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    pub argv: Vec<String>,
}

/// A simulated vLLM server with a step-level continuous-batching performance model.
///
/// Takes the `vllm serve` flags that shape performance, with vLLM's defaults; any other
/// vLLM flag is accepted and named once on stderr (`--strict` refuses them).
#[derive(Debug, Parser)]
#[command(name = "llmsweep sim", version, args_override_self = true)]
struct SimFlags {
    /// Model to serve (Hugging Face id); a known model selects its profile.
    #[arg(value_name = "MODEL")]
    model_positional: Option<String>,
    /// Model to serve (same as the positional MODEL).
    #[arg(long)]
    model: Option<String>,
    /// Names clients may use for the model (the first is listed by /v1/models).
    #[arg(long, num_args = 1..)]
    served_model_name: Vec<String>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0 picks a free one and logs it).
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// Most sequences in one step [default: the profile's, 1024 on H100].
    #[arg(long)]
    max_num_seqs: Option<u32>,
    /// Token budget of one step [default: the profile's, 8192 on H100].
    #[arg(long)]
    max_num_batched_tokens: Option<u32>,
    /// Longest prompt + output, in tokens (`32k` and `1m` work) [default: the model's].
    #[arg(long, value_parser = parse_token_count)]
    max_model_len: Option<u32>,
    /// Share of GPU memory vLLM may use; sizes the KV cache [default: 0.9].
    #[arg(long)]
    gpu_memory_utilization: Option<f64>,
    /// Turn the prefix cache on (the default).
    #[arg(long, overrides_with = "no_enable_prefix_caching")]
    enable_prefix_caching: bool,
    /// Turn the prefix cache off.
    #[arg(long, overrides_with = "enable_prefix_caching")]
    no_enable_prefix_caching: bool,
    /// Tensor-parallel size (`-tp`) [default: the profile's].
    #[arg(long)]
    tensor_parallel_size: Option<u32>,
    /// Pipeline-parallel size (`-pp`): more memory, one hop per stage, no speed-up.
    #[arg(long)]
    pipeline_parallel_size: Option<u32>,
    /// Data-parallel size (`-dp`): independent replicas behind one front end.
    #[arg(long)]
    data_parallel_size: Option<u32>,
    /// Tokens per KV block [default: 16].
    #[arg(long)]
    block_size: Option<u32>,
    /// No CUDA graphs or torch.compile: faster start, slower small batches.
    #[arg(long, overrides_with = "no_enforce_eager")]
    enforce_eager: bool,
    /// Use CUDA graphs (the default).
    #[arg(long, overrides_with = "enforce_eager")]
    no_enforce_eager: bool,
    /// Require `Authorization: Bearer KEY` on /v1 routes.
    #[arg(long, env = "VLLM_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Seed of the answer text (and of start-up jitter) [default: 0].
    #[arg(long)]
    seed: Option<u64>,
    /// Cap on one prefill chunk, tokens (0 = off).
    #[arg(long)]
    long_prefill_token_threshold: Option<u32>,
    /// KV-cache data type: auto, bfloat16, float16, fp8 (halves KV bytes).
    #[arg(long)]
    kv_cache_dtype: Option<String>,
    /// Use this many KV blocks instead of the memory accounting's.
    #[arg(long)]
    num_gpu_blocks_override: Option<u32>,

    /// Performance profile (see --list-profiles) [default: from the model name].
    #[arg(long, help_heading = "Simulator")]
    profile: Option<String>,
    /// Print the profiles with their key figures and exit.
    #[arg(long, help_heading = "Simulator")]
    list_profiles: bool,
    /// Time to first token of --profile fixed, ms [default: 20].
    #[arg(long, help_heading = "Simulator")]
    fixed_ttft_ms: Option<f64>,
    /// Inter-token time of --profile fixed, ms [default: 10].
    #[arg(long, help_heading = "Simulator")]
    fixed_itl_ms: Option<f64>,
    /// Multiply every simulated start-up phase by this.
    #[arg(long, default_value_t = 1.0, help_heading = "Simulator")]
    startup_scale: f64,
    /// Make a cold start take this many seconds (a warm one keeps its share); 0 skips it.
    #[arg(long, help_heading = "Simulator")]
    startup_seconds: Option<f64>,
    /// Compile-cache root deciding cold vs warm starts [default: $VLLM_CACHE_ROOT, else ~/.cache/vllm].
    #[arg(long, help_heading = "Simulator")]
    cache_root: Option<PathBuf>,
    /// Refuse vLLM flags the simulator ignores instead of warning.
    #[arg(long, help_heading = "Simulator")]
    strict: bool,
    /// Steps a request arriving at a busy engine waits before scheduling (0 or 1) [default: 1].
    #[arg(long, help_heading = "Simulator")]
    admission_lag_steps: Option<u32>,
    /// σ of log-normal noise on every step time (0 = off) [default: 0].
    #[arg(long, help_heading = "Simulator")]
    step_jitter: Option<f64>,
    /// Largest request body accepted, bytes.
    #[arg(long, default_value_t = 32 * 1024 * 1024, help_heading = "Simulator")]
    max_request_body_bytes: usize,
    /// HTTP worker threads [default: the number of CPUs, at most 4].
    #[arg(long, help_heading = "Simulator")]
    http_threads: Option<usize>,
}

/// `32768`, `32k`, `32K` (×1000 for `k`, ×1024 for `K`), `1m`, `1M`.
fn parse_token_count(s: &str) -> Result<u32, String> {
    let (digits, factor) = match s.char_indices().last() {
        Some((i, 'k')) => (&s[..i], 1_000.0),
        Some((i, 'K')) => (&s[..i], 1_024.0),
        Some((i, 'm')) => (&s[..i], 1_000_000.0),
        Some((i, 'M')) => (&s[..i], 1_048_576.0),
        _ => (s, 1.0),
    };
    let value: f64 = digits
        .parse()
        .map_err(|_| format!("expected a token count like 32768 or 32k, got {s:?}"))?;
    let tokens = (value * factor).round();
    if !(1.0..=f64::from(u32::MAX)).contains(&tokens) {
        return Err(format!("{s:?} is out of range"));
    }
    Ok(tokens as u32)
}

/// How each of [`SimFlags`]'s flags takes values, by spelling.
fn flag_kind(name: &str) -> Option<FlagKind> {
    let command = SimFlags::command();
    let builtin = match name {
        "--help" | "-h" | "--version" | "-V" => return Some(FlagKind::Switch),
        _ => None,
    };
    command
        .get_arguments()
        .find(|a| {
            let long = a
                .get_long()
                .is_some_and(|l| name.strip_prefix("--") == Some(l));
            let short = a
                .get_short()
                .is_some_and(|c| name.strip_prefix('-') == Some(c.encode_utf8(&mut [0; 4])));
            long || short
        })
        .map(|a| {
            if a.get_action().takes_values() {
                FlagKind::Value
            } else {
                FlagKind::Switch
            }
        })
        .or(builtin)
}

fn either(on: bool, off: bool) -> Option<bool> {
    match (on, off) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
}

/// Run the subcommand.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let split = split_vllm_argv(&args.argv, flag_kind);
    let argv = std::iter::once("llmsweep sim".to_string()).chain(split.known);
    let flags = match SimFlags::try_parse_from(argv) {
        Ok(flags) => flags,
        Err(e) => {
            let _ = e.print();
            return Ok(if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            });
        }
    };
    if flags.list_profiles {
        print!("{}", describe_profiles());
        return Ok(ExitCode::SUCCESS);
    }
    if !split.ignored.is_empty() {
        if flags.strict {
            bail!(
                "--strict: these vLLM flags have no effect in the simulator: {}",
                split.ignored.join(", ")
            );
        }
        for name in &split.ignored {
            llmsweep_sim::log::warn(&format!(
                "ignoring vLLM flag {name}: it has no effect in the simulator"
            ));
        }
    }
    if let (Some(a), Some(b)) = (&flags.model_positional, &flags.model)
        && a != b
    {
        bail!("the model is given twice, as {a:?} and --model {b:?}");
    }
    if !(flags.startup_scale >= 0.0 && flags.startup_scale.is_finite()) {
        bail!(
            "--startup-scale {}: expected a non-negative number",
            flags.startup_scale
        );
    }
    if flags
        .startup_seconds
        .is_some_and(|s| !(s >= 0.0 && s.is_finite()))
    {
        bail!("--startup-seconds: expected a non-negative number of seconds");
    }
    let options = SimOptions {
        model: flags.model_positional.or(flags.model),
        served_model_names: flags.served_model_name,
        profile: flags.profile,
        max_num_seqs: flags.max_num_seqs,
        max_num_batched_tokens: flags.max_num_batched_tokens,
        max_model_len: flags.max_model_len,
        gpu_memory_utilization: flags.gpu_memory_utilization,
        enable_prefix_caching: either(flags.enable_prefix_caching, flags.no_enable_prefix_caching),
        tensor_parallel_size: flags.tensor_parallel_size,
        pipeline_parallel_size: flags.pipeline_parallel_size,
        data_parallel_size: flags.data_parallel_size,
        block_size: flags.block_size,
        enforce_eager: flags.enforce_eager && !flags.no_enforce_eager,
        seed: flags.seed,
        long_prefill_token_threshold: flags.long_prefill_token_threshold,
        kv_cache_dtype: flags.kv_cache_dtype,
        num_gpu_blocks_override: flags.num_gpu_blocks_override,
        fixed_ttft_ms: flags.fixed_ttft_ms,
        fixed_itl_ms: flags.fixed_itl_ms,
        admission_lag_steps: flags.admission_lag_steps,
        step_jitter: flags.step_jitter,
    };
    let config = resolve(&options)?;
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    serve(
        config,
        ServeOptions {
            host: flags.host,
            port: flags.port,
            api_key: flags.api_key.filter(|k| !k.is_empty()),
            max_body_bytes: flags.max_request_body_bytes,
            startup_scale: flags.startup_scale,
            startup_seconds: flags.startup_seconds,
            cache_root: flags.cache_root.unwrap_or_else(default_cache_root),
            worker_threads: flags.http_threads.unwrap_or(cpus.min(4)),
        },
    )?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_counts_accept_suffixes() {
        assert_eq!(parse_token_count("32768"), Ok(32768));
        assert_eq!(parse_token_count("32k"), Ok(32000));
        assert_eq!(parse_token_count("32K"), Ok(32768));
        assert_eq!(parse_token_count("1M"), Ok(1_048_576));
        assert!(parse_token_count("lots").is_err());
        assert!(parse_token_count("0").is_err());
    }

    #[test]
    fn flag_kinds_come_from_the_parser() {
        assert_eq!(flag_kind("--max-num-seqs"), Some(FlagKind::Value));
        assert_eq!(flag_kind("--enforce-eager"), Some(FlagKind::Switch));
        assert_eq!(
            flag_kind("--no-enable-prefix-caching"),
            Some(FlagKind::Switch)
        );
        assert_eq!(flag_kind("--help"), Some(FlagKind::Switch));
        assert_eq!(flag_kind("--swap-space"), None);
    }

    #[test]
    fn sweep_style_command_lines_parse() {
        let argv: Vec<String> = [
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--startup-seconds",
            "0",
            "--max-num-seqs",
            "64",
            "--no-enable-prefix-caching",
            "--max-num-seqs",
            "32",
            "--compilation-config",
            "{\"a\":1}",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let split = split_vllm_argv(&argv, flag_kind);
        assert_eq!(split.ignored, ["--compilation-config"]);
        let flags =
            SimFlags::try_parse_from(std::iter::once("x".to_string()).chain(split.known)).unwrap();
        assert_eq!(
            flags.max_num_seqs,
            Some(32),
            "the last value wins, as with argparse"
        );
        assert_eq!(
            either(flags.enable_prefix_caching, flags.no_enable_prefix_caching),
            Some(false)
        );
        assert_eq!(flags.startup_seconds, Some(0.0));
    }
}
