//! `llmsweep sim`: the simulated vLLM-compatible server.
//!
//! It takes a `vllm serve` command line. The flags that shape performance are parsed into
//! [`SimFlags`]; any other flag of `vllm serve` (vLLM 0.33) is accepted (so real parameter
//! files work unchanged) and named once on stderr, or refused with `--strict`. A flag that
//! neither has is a usage error (exit 2).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::{CommandFactory as _, Parser};
use llmsweep_sim::config::{SimOptions, describe_profiles, resolve};
use llmsweep_sim::server::{ServeOptions, serve};
use llmsweep_sim::startup::default_cache_root;
use llmsweep_sim::vllm_argv::{
    Arity, human_readable_int, human_readable_int_or_auto, split_vllm_argv,
};
use llmsweep_sim::vllm_flags::VLLM_VERSION;

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
/// flag of `vllm serve` (vLLM 0.33) is accepted and named once on stderr (`--strict`
/// refuses them). Flags are read as vLLM reads them: `_` or `-`, `--flag=value`, unique
/// prefixes (`--max-num-seq`), `--json-flag.key value`, `-O3`. A flag that neither the
/// simulator nor `vllm serve` has is an error.
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
    /// Token budget of one step (`8k` = 8000, `8K` = 8192) [default: the profile's, 8192 on H100].
    #[arg(long, value_parser = parse_token_count)]
    max_num_batched_tokens: Option<u32>,
    /// Longest prompt + output, in tokens (`32k` = 32000, `32K` = 32768; `auto` or -1: the
    /// model's limit cut to what the KV cache holds) [default: the profile's].
    #[arg(long, value_parser = parse_model_len, allow_negative_numbers = true)]
    max_model_len: Option<ModelLen>,
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
    /// Require `Authorization: Bearer KEY` with one of these keys on /v1 routes (as
    /// `vllm serve`: several keys after one flag; a repeated flag replaces the keys; "" or
    /// None means none) [default: $VLLM_API_KEY].
    #[arg(long, num_args = 1.., action = clap::ArgAction::Set, value_name = "KEY", env = "VLLM_API_KEY", hide_env_values = true)]
    api_key: Vec<String>,
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

/// `--max-model-len`: a number of tokens or `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ModelLen {
    Tokens(u32),
    Auto,
}

/// A positive token count in vLLM's `human_readable_int` forms: `32768`, `32k` (×1000),
/// `32K` (×1024), `1.5k`, `1m`, `1M`.
fn parse_token_count(s: &str) -> Result<u32, String> {
    let n = human_readable_int(s)?;
    u32::try_from(n)
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{s:?} is out of range: expected 1 to {}", u32::MAX))
}

/// vLLM's `human_readable_int_or_auto`: a token count, or `auto` / `-1`.
fn parse_model_len(s: &str) -> Result<ModelLen, String> {
    match human_readable_int_or_auto(s)? {
        None => Ok(ModelLen::Auto),
        Some(_) => parse_token_count(s).map(ModelLen::Tokens),
    }
}

/// Every option string of [`SimFlags`] with how it takes values.
fn sim_flags() -> Vec<(String, Arity)> {
    let command = SimFlags::command();
    let mut flags = vec![
        ("--help".to_string(), Arity::Switch),
        ("-h".to_string(), Arity::Switch),
        ("--version".to_string(), Arity::Switch),
        ("-V".to_string(), Arity::Switch),
    ];
    for a in command.get_arguments() {
        let arity = if !a.get_action().takes_values() {
            Arity::Switch
        } else if a.get_num_args().is_some_and(|n| n.max_values() > 1) {
            Arity::Many
        } else {
            Arity::One
        };
        if let Some(long) = a.get_long() {
            flags.push((format!("--{long}"), arity));
        }
        if let Some(short) = a.get_short() {
            flags.push((format!("-{short}"), arity));
        }
    }
    flags
}

/// The keys vLLM would require: `--api-key` values (or `VLLM_API_KEY`) except `""` and
/// `None`, which vLLM's `optional_type` reads as no key.
fn api_keys(given: Vec<String>) -> Vec<String> {
    given
        .into_iter()
        .filter(|k| !k.is_empty() && k != "None")
        .collect()
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
    let split = match split_vllm_argv(&args.argv, &sim_flags()) {
        Ok(split) => split,
        Err(e) => {
            eprintln!(
                "error: {e}\n\nUsage: llmsweep sim [MODEL] [FLAGS]...\n\nFor more information, \
                 try '--help'."
            );
            return Ok(ExitCode::from(2));
        }
    };
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
                "--strict: these vLLM {VLLM_VERSION} flags have no effect in the simulator: {}",
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
        max_model_len: match flags.max_model_len {
            Some(ModelLen::Tokens(n)) => Some(n),
            _ => None,
        },
        max_model_len_auto: flags.max_model_len == Some(ModelLen::Auto),
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
            api_keys: api_keys(flags.api_key),
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

    fn parse(args: &[&str]) -> SimFlags {
        let argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let split = split_vllm_argv(&argv, &sim_flags()).unwrap();
        SimFlags::try_parse_from(std::iter::once("x".to_string()).chain(split.known)).unwrap()
    }

    #[test]
    fn token_counts_take_vllm_forms() {
        assert_eq!(parse_token_count("32768"), Ok(32768));
        assert_eq!(parse_token_count("32k"), Ok(32000));
        assert_eq!(parse_token_count("32K"), Ok(32768));
        assert_eq!(parse_token_count("1.5k"), Ok(1500));
        assert_eq!(parse_token_count("1M"), Ok(1_048_576));
        assert!(parse_token_count("1.5K").unwrap_err().contains("1.5k"));
        assert!(parse_token_count("lots").is_err());
        assert!(parse_token_count("0").is_err());
        assert!(parse_token_count("-1").is_err());
        assert!(parse_token_count("5G").is_err());
        assert_eq!(parse_model_len("2k"), Ok(ModelLen::Tokens(2000)));
        assert_eq!(parse_model_len("auto"), Ok(ModelLen::Auto));
        assert_eq!(parse_model_len("-1"), Ok(ModelLen::Auto));
        assert!(parse_model_len("-2").is_err());
    }

    #[test]
    fn flag_table_comes_from_the_parser() {
        let flags = sim_flags();
        let arity = |name: &str| flags.iter().find(|(n, _)| n == name).map(|(_, a)| *a);
        assert_eq!(arity("--max-num-seqs"), Some(Arity::One));
        assert_eq!(arity("--served-model-name"), Some(Arity::Many));
        assert_eq!(arity("--enforce-eager"), Some(Arity::Switch));
        assert_eq!(arity("--no-enable-prefix-caching"), Some(Arity::Switch));
        assert_eq!(arity("--help"), Some(Arity::Switch));
        assert_eq!(arity("--trust-remote-code"), None);
        // The vLLM flags the simulator reads take values as `vllm serve` does.
        for (name, arity) in &flags {
            if let Some(vllm) = llmsweep_sim::vllm_argv::vllm_arity(name) {
                assert_eq!(vllm, *arity, "{name}");
            }
        }
    }

    #[test]
    fn vllm_value_forms_parse() {
        let flags = parse(&["--max-num-batched-tokens", "4k", "--max-model-len", "auto"]);
        assert_eq!(flags.max_num_batched_tokens, Some(4000));
        assert_eq!(flags.max_model_len, Some(ModelLen::Auto));
        let flags = parse(&["--max_num_batched_tokens=4K", "--max-model-len", "-1"]);
        assert_eq!(flags.max_num_batched_tokens, Some(4096));
        assert_eq!(flags.max_model_len, Some(ModelLen::Auto));
        let flags = parse(&["--max-model-len=2k", "--max-num-seq", "8"]);
        assert_eq!(flags.max_model_len, Some(ModelLen::Tokens(2000)));
        assert_eq!(flags.max_num_seqs, Some(8));
    }

    #[test]
    fn ignored_switches_leave_the_model_positional() {
        let flags = parse(&[
            "--trust-remote-code",
            "--disable-log-stats",
            "Qwen/Qwen3-0.6B",
            "--enable-chunked-prefill",
            "--disable-log-requests",
        ]);
        assert_eq!(flags.model_positional.as_deref(), Some("Qwen/Qwen3-0.6B"));
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
        let split = split_vllm_argv(&argv, &sim_flags()).unwrap();
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

    #[test]
    fn api_keys_are_read_as_vllm_serve_reads_them() {
        let keys = |args: &[&str]| api_keys(parse(args).api_key);
        assert_eq!(keys(&["--api-key", "k1", "k2"]), ["k1", "k2"]);
        assert_eq!(
            keys(&["--api-key", "k1", "k2", "--port", "1"]),
            ["k1", "k2"]
        );
        // argparse's `store`: a repeated flag replaces the earlier keys.
        assert_eq!(keys(&["--api-key", "k1", "k2", "--api-key", "k3"]), ["k3"]);
        assert_eq!(keys(&["--api-key=k1"]), ["k1"]);
        assert_eq!(keys(&["--api_key", "k1", "k2"]), ["k1", "k2"]);
        // vLLM's optional_type: "" and "None" are no key.
        assert!(keys(&["--api-key", ""]).is_empty());
        assert!(keys(&["--api-key", "None"]).is_empty());
        assert_eq!(keys(&["--api-key", "k1", "None"]), ["k1"]);
        // A bare --api-key is an error, as with argparse's nargs='+'.
        let argv = ["x", "--api-key"].map(String::from);
        assert!(SimFlags::try_parse_from(argv).is_err());
    }

    #[test]
    fn unknown_flags_are_refused() {
        let argv = vec!["--bogus-flag-xyz".to_string()];
        assert!(split_vllm_argv(&argv, &sim_flags()).is_err());
        let argv = vec!["--startup-scael".to_string(), "2".to_string()];
        let err = split_vllm_argv(&argv, &sim_flags()).unwrap_err();
        assert!(err.to_string().contains("'--startup-scale'"), "{err}");
    }
}
