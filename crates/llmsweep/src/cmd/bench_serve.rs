//! `llmsweep bench serve`: benchmark an OpenAI-compatible server with `vllm bench serve`'s
//! flags and result file. Flags map onto `llmsweep_bench::config::BenchConfig`; the run itself
//! is `llmsweep_bench::bench::run`. This file adds the progress bar and the console output.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use clap::builder::PossibleValuesParser;
use clap::{ArgAction, ArgMatches, FromArgMatches};
use indicatif::{ProgressBar, ProgressStyle};
use llmsweep_bench::config::{self as cfg, Backend, BenchConfig, OutputOptions};
use llmsweep_bench::dataset::{
    CommonParams, CustomParams, DatasetSpec, PrefixRepetitionParams, RandomParams, RangeRatio,
    ShareGptParams,
};
use llmsweep_bench::runner::Observer;
use llmsweep_bench::schedule::{RampStrategy, RateProfile};
use serde_json::Value;

/// Flags of `llmsweep bench serve`: `vllm bench serve`'s names and defaults, plus
/// `--api-key` and `--request-timeout`. A flag may repeat; the last one wins (argparse).
#[derive(Debug, clap::Args)]
#[command(args_override_self = true)]
pub struct Args {
    /// The flags, boxed so the CLI's command enum stays small.
    #[command(flatten)]
    pub flags: Box<Flags>,
}

/// Every flag of `llmsweep bench serve`.
#[derive(Debug, clap::Args)]
pub struct Flags {
    /// API flavour: vllm and openai use /v1/completions, openai-chat /v1/chat/completions.
    #[arg(long, default_value = "openai", value_parser = PossibleValuesParser::new(cfg::VLLM_BACKENDS))]
    pub backend: String,
    /// Server base URL (e.g. http://127.0.0.1:8000); overrides --host/--port.
    #[arg(long)]
    pub base_url: Option<String>,
    /// Server host.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Server port.
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// API path (default: /v1/completions, or /v1/chat/completions for openai-chat).
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Extra HTTP headers, KEY=VALUE.
    #[arg(long, num_args = 0.., action = ArgAction::Set)]
    pub header: Vec<String>,
    /// Model name (default: the first model of GET /v1/models).
    #[arg(long)]
    pub model: Option<String>,
    /// Model name sent in requests when --model is given.
    #[arg(long)]
    pub served_model_name: Option<String>,
    /// A local tokenizer.json, or a folder holding one (never downloaded).
    #[arg(long)]
    pub tokenizer: Option<String>,
    /// Tokenizer mode; only `auto` (a tokenizer.json) is supported.
    #[arg(long, default_value = "auto")]
    pub tokenizer_mode: String,
    /// Accepted for compatibility and changes nothing: llmsweep reads only tokenizer.json
    /// files, which hold no code to trust.
    #[arg(long)]
    pub trust_remote_code: bool,
    /// Use no tokenizer: no TTFT/TPOT/ITL statistics, as in vLLM.
    #[arg(long, overrides_with = "no_skip_tokenizer_init")]
    pub skip_tokenizer_init: bool,
    /// `--no-skip-tokenizer-init`: off (what a sweep writes for `"skip_tokenizer_init": false`; the last of the two wins).
    #[arg(
        long = "no-skip-tokenizer-init",
        hide = true,
        overrides_with = "skip_tokenizer_init"
    )]
    pub no_skip_tokenizer_init: bool,
    /// Label for the result (default: the backend).
    #[arg(long)]
    pub label: Option<String>,
    /// Prefix of the x-request-id header (default: bench-<8 random hex digits>-).
    #[arg(long)]
    pub request_id_prefix: Option<String>,

    /// Dataset: random, sharegpt, custom or prefix_repetition.
    #[arg(long, default_value = "random")]
    pub dataset_name: String,
    /// Dataset file (sharegpt: JSON; custom: JSONL).
    #[arg(long)]
    pub dataset_path: Option<PathBuf>,
    /// Number of prompts (custom: <= 0 uses every row).
    #[arg(long, default_value_t = 1000, allow_negative_numbers = true)]
    pub num_prompts: i64,
    /// Seed for the dataset and the arrival times.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Overrides --random-input-len.
    #[arg(long)]
    pub input_len: Option<u64>,
    /// Overrides every dataset's output length.
    #[arg(long)]
    pub output_len: Option<u64>,
    /// Random dataset: input tokens per request.
    #[arg(long, default_value_t = 1024)]
    pub random_input_len: u64,
    /// Random dataset: output tokens per request.
    #[arg(long, default_value_t = 128)]
    pub random_output_len: u64,
    /// Random dataset: length spread, a float or {"input": r, "output": r}, each in [0, 1).
    #[arg(long, default_value = "0.0")]
    pub random_range_ratio: String,
    /// Random dataset: shared prefix tokens.
    #[arg(long, default_value_t = 0)]
    pub random_prefix_len: u64,
    /// ShareGPT: fixed output length instead of the conversation's.
    #[arg(long)]
    pub sharegpt_output_len: Option<u64>,
    /// Custom: output length; -1 uses each row's output_tokens.
    #[arg(long, default_value_t = 256, allow_negative_numbers = true)]
    pub custom_output_len: i64,
    /// Custom: send prompts without the model's chat template.
    #[arg(long, overrides_with = "no_skip_chat_template")]
    pub skip_chat_template: bool,
    /// `--no-skip-chat-template`: off (what a sweep writes for `"skip_chat_template": false`; the last of the two wins).
    #[arg(
        long = "no-skip-chat-template",
        hide = true,
        overrides_with = "skip_chat_template"
    )]
    pub no_skip_chat_template: bool,
    /// Prefix repetition: prefix tokens.
    #[arg(long, default_value_t = 256)]
    pub prefix_repetition_prefix_len: u64,
    /// Prefix repetition: suffix tokens.
    #[arg(long, default_value_t = 256)]
    pub prefix_repetition_suffix_len: u64,
    /// Prefix repetition: number of distinct prefixes.
    #[arg(long, default_value_t = 10)]
    pub prefix_repetition_num_prefixes: u64,
    /// Prefix repetition: output tokens.
    #[arg(long, default_value_t = 128)]
    pub prefix_repetition_output_len: u64,
    /// Keep the dataset's order.
    #[arg(long, overrides_with = "no_disable_shuffle")]
    pub disable_shuffle: bool,
    /// `--no-disable-shuffle`: off (what a sweep writes for `"disable_shuffle": false`; the last of the two wins).
    #[arg(
        long = "no-disable-shuffle",
        hide = true,
        overrides_with = "disable_shuffle"
    )]
    pub no_disable_shuffle: bool,
    /// Do not repeat samples to reach --num-prompts.
    #[arg(long)]
    pub no_oversample: bool,

    /// Requests per second (inf: all at once).
    #[arg(long, default_value = "inf", allow_negative_numbers = true)]
    pub request_rate: f64,
    /// Gamma shape of the gaps between requests (1: Poisson).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub burstiness: f64,
    /// Most requests in flight at once.
    #[arg(long, allow_negative_numbers = true)]
    pub max_concurrency: Option<i64>,
    /// Ramp the rate up: linear or exponential.
    #[arg(long, value_parser = ["linear", "exponential"])]
    pub ramp_up_strategy: Option<String>,
    /// Ramp-up start rate (req/s).
    #[arg(long, allow_negative_numbers = true)]
    pub ramp_up_start_rps: Option<i64>,
    /// Ramp-up end rate (req/s).
    #[arg(long, allow_negative_numbers = true)]
    pub ramp_up_end_rps: Option<i64>,
    /// Copies of the first request sent before the timed run.
    #[arg(long, default_value_t = 0)]
    pub num_warmups: u64,
    /// Repeat the first request until it succeeds, for up to this many seconds (0: skip).
    #[arg(long, default_value_t = 0)]
    pub ready_check_timeout_sec: u64,
    /// Give up on one request after this many seconds (vLLM's session timeout: 6 h).
    #[arg(long, default_value_t = 21600.0)]
    pub request_timeout: f64,
    /// No progress bar.
    #[arg(long, overrides_with = "no_disable_tqdm")]
    pub disable_tqdm: bool,
    /// `--no-disable-tqdm`: off (what a sweep writes for `"disable_tqdm": false`; the last of the two wins).
    #[arg(long = "no-disable-tqdm", hide = true, overrides_with = "disable_tqdm")]
    pub no_disable_tqdm: bool,

    /// Ask the server to ignore end-of-sequence tokens (always on for the random dataset).
    #[arg(long, overrides_with = "no_ignore_eos")]
    pub ignore_eos: bool,
    /// `--no-ignore-eos`: off (what a sweep writes for `"ignore_eos": false`; the last of the two wins).
    #[arg(long = "no-ignore-eos", hide = true, overrides_with = "ignore_eos")]
    pub no_ignore_eos: bool,
    /// Sampling temperature.
    #[arg(long, allow_negative_numbers = true)]
    pub temperature: Option<f64>,
    /// Top-p sampling.
    #[arg(long)]
    pub top_p: Option<f64>,
    /// Top-k sampling.
    #[arg(long, allow_negative_numbers = true)]
    pub top_k: Option<i64>,
    /// Min-p sampling.
    #[arg(long)]
    pub min_p: Option<f64>,
    /// Frequency penalty.
    #[arg(long, allow_negative_numbers = true)]
    pub frequency_penalty: Option<f64>,
    /// Presence penalty.
    #[arg(long, allow_negative_numbers = true)]
    pub presence_penalty: Option<f64>,
    /// Repetition penalty.
    #[arg(long)]
    pub repetition_penalty: Option<f64>,
    /// JSON object merged into every request body.
    #[arg(long)]
    pub extra_body: Option<String>,
    /// Log-probabilities per token (completions).
    #[arg(long)]
    pub logprobs: Option<i64>,
    /// API key sent as a bearer token (never written to any file).
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,

    /// Write the result JSON.
    #[arg(long)]
    pub save_result: bool,
    /// Keep the per-request arrays in the result.
    #[arg(long, overrides_with = "no_save_detailed")]
    pub save_detailed: bool,
    /// `--no-save-detailed`: off (what a sweep writes for `"save_detailed": false`; the last of the two wins).
    #[arg(
        long = "no-save-detailed",
        hide = true,
        overrides_with = "save_detailed"
    )]
    pub no_save_detailed: bool,
    /// Append the result to the file (JSON Lines).
    #[arg(long, overrides_with = "no_append_result")]
    pub append_result: bool,
    /// `--no-append-result`: off (what a sweep writes for `"append_result": false`; the last of the two wins).
    #[arg(
        long = "no-append-result",
        hide = true,
        overrides_with = "append_result"
    )]
    pub no_append_result: bool,
    /// Folder for the result file.
    #[arg(long)]
    pub result_dir: Option<PathBuf>,
    /// Result file name (default: vLLM's naming rule).
    #[arg(long)]
    pub result_filename: Option<String>,
    /// KEY=VALUE pairs written into the result.
    #[arg(long, num_args = 0.., action = ArgAction::Set)]
    pub metadata: Vec<String>,
    /// Metrics with statistics: ttft, tpot, itl, e2el, client_queue_time, e2el_including_client_queue.
    #[arg(long, default_value = "ttft,tpot,itl")]
    pub percentile_metrics: String,
    /// Percentiles to report, comma-separated.
    #[arg(long, default_value = "99")]
    pub metric_percentiles: String,
    /// Goodput SLOs in ms: ttft:VALUE tpot:VALUE e2el:VALUE.
    #[arg(long, num_args = 1.., action = ArgAction::Set)]
    pub goodput: Vec<String>,

    /// vLLM flags that llmsweep does not implement: rejected by name, never dropped.
    #[command(flatten)]
    pub unimplemented: UnimplementedFlags,
}

/// The unimplemented vLLM flags that were given, by name.
#[derive(Debug, Clone, Default)]
pub struct UnimplementedFlags(pub Vec<String>);

impl FromArgMatches for UnimplementedFlags {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let given = cfg::VLLM_FLAGS_NOT_IMPLEMENTED
            .iter()
            .filter(|name| {
                matches.value_source(name) == Some(clap::parser::ValueSource::CommandLine)
            })
            .map(|name| format!("--{name}"))
            .collect();
        Ok(UnimplementedFlags(given))
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl clap::Args for UnimplementedFlags {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        cfg::VLLM_FLAGS_NOT_IMPLEMENTED
            .iter()
            .fold(cmd, |cmd, name| {
                cmd.arg(
                    clap::Arg::new(*name)
                        .long(*name)
                        .hide(true)
                        .num_args(0..)
                        .action(ArgAction::Set),
                )
            })
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

/// Run the subcommand.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = to_config(&args.flags)?;
    let disable_progress = args.flags.disable_tqdm;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let observer = Arc::new(Progress::new(disable_progress));
    let report = runtime.block_on(async {
        // Ctrl-C ends the run early; what was measured until then is still written.
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("\nInterrupted: stopping the run and writing what was measured...");
                let _ = stop_tx.send(true);
            }
        });
        llmsweep_bench::bench::run_until(&config, observer, stop_rx).await
    })?;
    print!("{}", report.summary);
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    if let Some(path) = &report.path {
        println!("Results written to {}", path.display());
    }
    // 130: the shell's code for a run ended by Ctrl-C (SIGINT).
    Ok(if report.interrupted {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}

fn to_config(a: &Flags) -> anyhow::Result<BenchConfig> {
    if let Some(flag) = a.unimplemented.0.first() {
        bail!(
            "{flag} is a `vllm bench serve` flag that llmsweep bench serve does not implement; remove it (a dropped flag would report a benchmark nobody ran)"
        );
    }
    let backend = match a.backend.as_str() {
        "vllm" => Backend::Vllm,
        "openai" => Backend::Openai,
        "openai-chat" => Backend::OpenaiChat,
        other => bail!(
            "--backend {other}: llmsweep bench serve implements vllm, openai and openai-chat only"
        ),
    };
    if a.tokenizer_mode != "auto" {
        bail!(
            "--tokenizer-mode {}: only `auto` (a tokenizer.json) is implemented",
            a.tokenizer_mode
        );
    }
    if a.skip_tokenizer_init && a.tokenizer.is_some() {
        bail!("--skip-tokenizer-init and --tokenizer contradict each other; pass one of them");
    }
    if let Some(n) = a.max_concurrency
        && n <= 0
    {
        bail!("--max-concurrency must be greater than 0 (got {n})");
    }
    if a.request_timeout.is_nan() || a.request_timeout <= 0.0 {
        bail!(
            "--request-timeout must be > 0 seconds (got {})",
            a.request_timeout
        );
    }
    let rate = match &a.ramp_up_strategy {
        None => {
            if a.request_rate.is_nan() || a.request_rate <= 0.0 {
                bail!(
                    "--request-rate must be > 0 requests per second, or inf (got {})",
                    a.request_rate
                );
            }
            RateProfile::Constant(a.request_rate)
        }
        Some(strategy) => {
            if a.request_rate.is_finite() {
                bail!("--ramp-up-strategy controls the rate: remove --request-rate");
            }
            let (Some(start), Some(end)) = (a.ramp_up_start_rps, a.ramp_up_end_rps) else {
                bail!("--ramp-up-strategy needs both --ramp-up-start-rps and --ramp-up-end-rps");
            };
            if start < 0 || end < 0 {
                bail!(
                    "--ramp-up-start-rps and --ramp-up-end-rps must be non-negative (got {start} and {end})"
                );
            }
            if start > end {
                bail!("--ramp-up-start-rps ({start}) must not exceed --ramp-up-end-rps ({end})");
            }
            let strategy = if strategy == "linear" {
                RampStrategy::Linear
            } else {
                RampStrategy::Exponential
            };
            if strategy == RampStrategy::Exponential && start == 0 {
                bail!("--ramp-up-strategy exponential needs --ramp-up-start-rps > 0");
            }
            if strategy == RampStrategy::Linear && start == 0 {
                bail!(
                    "--ramp-up-start-rps 0 gives the first request a rate of 0; start at 1 or more"
                );
            }
            RateProfile::Ramp {
                strategy,
                start: start as u64,
                end: end as u64,
            }
        }
    };
    if a.burstiness.is_nan() || a.burstiness <= 0.0 {
        bail!("--burstiness must be > 0 (got {})", a.burstiness);
    }

    let with_path = |name: &str| -> anyhow::Result<PathBuf> {
        a.dataset_path
            .clone()
            .with_context(|| format!("--dataset-name {name} needs --dataset-path"))
    };
    let dataset = match a.dataset_name.as_str() {
        "random" | "prefix_repetition" if a.dataset_path.is_some() => {
            bail!(
                "--dataset-name {} takes no --dataset-path; use sharegpt or custom for a file",
                a.dataset_name
            )
        }
        "random" => DatasetSpec::Random(RandomParams {
            input_len: a.input_len.unwrap_or(a.random_input_len),
            output_len: a.output_len.unwrap_or(a.random_output_len),
            range_ratio: RangeRatio::parse(&a.random_range_ratio).map_err(anyhow::Error::msg)?,
            prefix_len: a.random_prefix_len,
        }),
        "sharegpt" => DatasetSpec::ShareGpt(ShareGptParams {
            path: with_path("sharegpt")?,
            output_len: a.output_len.or(a.sharegpt_output_len),
        }),
        "custom" => {
            let output_len = match a.output_len {
                Some(n) => Some(n),
                None if a.custom_output_len == -1 => None,
                None if a.custom_output_len >= 0 => Some(a.custom_output_len as u64),
                None => bail!(
                    "--custom-output-len must be -1 or a non-negative number (got {})",
                    a.custom_output_len
                ),
            };
            DatasetSpec::Custom(CustomParams {
                path: with_path("custom")?,
                output_len,
                skip_chat_template: a.skip_chat_template,
            })
        }
        "prefix_repetition" => DatasetSpec::PrefixRepetition(PrefixRepetitionParams {
            prefix_len: a.prefix_repetition_prefix_len,
            suffix_len: a.prefix_repetition_suffix_len,
            num_prefixes: a.prefix_repetition_num_prefixes,
            output_len: a.output_len.unwrap_or(a.prefix_repetition_output_len),
        }),
        other => bail!(
            "--dataset-name {other}: llmsweep bench serve implements random, sharegpt, custom and prefix_repetition"
        ),
    };
    if a.num_prompts < 1 && !matches!(dataset, DatasetSpec::Custom(_)) {
        bail!("--num-prompts must be at least 1 (got {})", a.num_prompts);
    }

    let mut extra_body = serde_json::Map::new();
    let sampling: [(&str, Option<Value>); 7] = [
        ("top_p", a.top_p.map(Value::from)),
        ("top_k", a.top_k.map(Value::from)),
        ("min_p", a.min_p.map(Value::from)),
        ("temperature", a.temperature.map(Value::from)),
        ("frequency_penalty", a.frequency_penalty.map(Value::from)),
        ("presence_penalty", a.presence_penalty.map(Value::from)),
        ("repetition_penalty", a.repetition_penalty.map(Value::from)),
    ];
    for (key, value) in sampling {
        if let Some(v) = value {
            extra_body.insert(key.into(), v);
        }
    }
    if let Some(text) = &a.extra_body {
        extra_body.extend(cfg::parse_extra_body(text).map_err(anyhow::Error::msg)?);
    }
    let request_id_prefix = a
        .request_id_prefix
        .clone()
        .unwrap_or_else(|| format!("bench-{:08x}-", rand::random::<u32>()));
    let base_url = match &a.base_url {
        Some(url) => url.clone(),
        None if a.host.contains(':') && !a.host.starts_with('[') => {
            format!("http://[{}]:{}", a.host, a.port)
        }
        None => format!("http://{}:{}", a.host, a.port),
    };
    Ok(BenchConfig {
        backend,
        base_url,
        endpoint: a
            .endpoint
            .clone()
            .unwrap_or_else(|| backend.default_endpoint().to_string()),
        model: a.model.clone(),
        served_model_name: a.served_model_name.clone(),
        tokenizer: a.tokenizer.clone(),
        skip_tokenizer_init: a.skip_tokenizer_init,
        dataset,
        common: CommonParams {
            num_prompts: a.num_prompts.max(0) as usize,
            seed: a.seed,
            request_id_prefix,
            disable_shuffle: a.disable_shuffle,
            no_oversample: a.no_oversample,
        },
        num_prompts_flag: a.num_prompts,
        rate,
        burstiness: a.burstiness,
        max_concurrency: a.max_concurrency.map(|n| n as u64),
        ignore_eos: a.ignore_eos,
        logprobs: a.logprobs,
        extra_body,
        headers: cfg::parse_headers(&a.header).map_err(anyhow::Error::msg)?,
        api_key: a.api_key.clone().filter(|k| !k.is_empty()),
        percentile_metrics: cfg::parse_percentile_metrics(&a.percentile_metrics)
            .map_err(anyhow::Error::msg)?,
        metric_percentiles: cfg::parse_metric_percentiles(&a.metric_percentiles)
            .map_err(anyhow::Error::msg)?,
        goodput: cfg::parse_goodput(&a.goodput).map_err(anyhow::Error::msg)?,
        num_warmups: a.num_warmups,
        ready_check_timeout_s: a.ready_check_timeout_sec,
        request_timeout_s: a.request_timeout,
        output: OutputOptions {
            save_result: a.save_result,
            append_result: a.append_result,
            save_detailed: a.save_detailed,
            result_dir: a.result_dir.clone(),
            result_filename: a.result_filename.clone(),
            label: a.label.clone(),
            metadata: cfg::parse_metadata(&a.metadata).map_err(anyhow::Error::msg)?,
        },
    })
}

/// A progress bar on stderr (hidden when not a terminal or with --disable-tqdm) and status
/// lines on stdout, as vLLM prints them.
struct Progress {
    disabled: bool,
    bar: Mutex<Option<ProgressBar>>,
}

impl Progress {
    fn new(disabled: bool) -> Progress {
        Progress {
            disabled,
            bar: Mutex::new(None),
        }
    }
}

impl Observer for Progress {
    fn message(&self, text: &str) {
        println!("{text}");
    }

    fn phase_started(&self, phase: &str, total: usize) {
        if self.disabled {
            return;
        }
        let bar = ProgressBar::new(total as u64);
        let style = ProgressStyle::with_template(
            "{prefix} {percent:>3}%|{wide_bar}| {pos}/{len} [{elapsed_precise}<{eta_precise}, {rate}]",
        )
        .map(|s| {
            s.with_key("rate", |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.2} req/s", state.per_sec());
            })
        })
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_prefix(phase.to_string());
        if let Ok(mut slot) = self.bar.lock() {
            *slot = Some(bar);
        }
    }

    fn request_done(&self, _success: bool) {
        if let Ok(slot) = self.bar.lock()
            && let Some(bar) = slot.as_ref()
        {
            bar.inc(1);
        }
    }

    fn phase_finished(&self) {
        if let Ok(mut slot) = self.bar.lock()
            && let Some(bar) = slot.take()
        {
            finish_bar(&bar, &mut std::io::stderr());
        }
    }
}

/// Draw the bar's final state and, when it is drawn at all (a terminal), end its line: the
/// cursor stays behind a finished bar, and what is printed next (the summary table, on
/// stdout) would start on the bar's line.
fn finish_bar(bar: &ProgressBar, out: &mut dyn std::io::Write) {
    bar.finish();
    if !bar.is_hidden() {
        let _ = writeln!(out);
        let _ = out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use indicatif::{ProgressDrawTarget, TermLike};

    /// A terminal that records what is drawn, in order, into a shared log.
    #[derive(Debug, Clone)]
    struct Recorder(Arc<Mutex<String>>);

    impl TermLike for Recorder {
        fn width(&self) -> u16 {
            80
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.0.lock().unwrap().push_str(&format!("{s}\n"));
            Ok(())
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.0.lock().unwrap().push_str(s);
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Collects what `finish_bar` writes into the same log as the bar's drawing.
    struct LogWriter(Arc<Mutex<String>>);

    impl std::io::Write for LogWriter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(buf));
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn finished_bar_on_a_terminal_ends_its_line() {
        let log = Arc::new(Mutex::new(String::new()));
        let bar = ProgressBar::with_draw_target(
            Some(3),
            ProgressDrawTarget::term_like(Box::new(Recorder(log.clone()))),
        );
        bar.set_style(ProgressStyle::with_template("{pos}/{len}").unwrap());
        bar.inc(3);
        finish_bar(&bar, &mut LogWriter(log.clone()));
        let drawn = log.lock().unwrap().clone();
        // The bar's last drawing (padded to the width), then the line end, nothing after.
        assert!(
            drawn.ends_with(" \n") && drawn.trim_end().ends_with("3/3"),
            "{drawn:?}"
        );
        assert_eq!(drawn.matches('\n').count(), 1, "{drawn:?}");
    }

    #[test]
    fn hidden_bar_prints_nothing() {
        let bar = ProgressBar::hidden();
        let mut out = Vec::new();
        finish_bar(&bar, &mut out);
        assert!(out.is_empty());
    }
}
