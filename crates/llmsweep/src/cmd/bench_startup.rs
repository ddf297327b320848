//! `llmsweep bench startup`: time a server's cold and warm start-ups, as a user waits for
//! them (vLLM: `vllm bench startup`, which times an in-process engine and only for vLLM).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::CommandFactory;

use llmsweep_sweep::startup::bench::{BenchStartupOptions, run_bench_startup};

/// Flags of `llmsweep bench startup`, with vLLM's names and defaults where vLLM has them.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "startup")]
pub struct Args {
    /// The server command, e.g. 'vllm serve meta-llama/Llama-3.1-8B-Instruct'. It answers
    /// where its --host/--port say (default localhost:8000) or at --server-url. Default: the
    /// simulator, `llmsweep sim`; a simulator command without --port gets a free port, and a
    /// leading `llmsweep` not on PATH is this program. The default simulated model
    /// (Llama-3.1-8B) takes about 100 s per cold start-up, so the default 3 cold + 1
    /// warm-up + 3 warm start-ups take about 10 minutes; for a quick try, `--serve-cmd
    /// 'llmsweep sim --profile tiny'` or `'llmsweep sim --startup-seconds 1'`.
    #[arg(long, value_name = "CMD")]
    pub serve_cmd: Option<String>,
    /// Where the server answers, e.g. http://127.0.0.1:8000, when its command's
    /// --host/--port do not say.
    #[arg(long, value_name = "URL")]
    pub server_url: Option<String>,
    /// Cold start-ups: each gets empty cache folders (VLLM_CACHE_ROOT,
    /// TORCHINDUCTOR_CACHE_DIR, TRITON_CACHE_DIR) and runs --cold-cmd first.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub num_iters_cold: u32,
    /// Unrecorded start-ups with the usual caches, to fill them before the warm ones.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub num_iters_warmup: u32,
    /// Warm start-ups, with the usual caches.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub num_iters_warm: u32,
    /// Run this before every cold start-up, e.g. "sudo sh -c 'sync; echo 3 >
    /// /proc/sys/vm/drop_caches'" (split like a shell command; it must succeed).
    #[arg(long, value_name = "CMD")]
    pub cold_cmd: Option<String>,
    /// Do not give cold start-ups fresh cache folders (when --cold-cmd clears the caches).
    #[arg(long)]
    pub no_fresh_cache: bool,
    /// Seconds to wait for GET /health to answer 200, and then again for the first token.
    #[arg(long, default_value_t = 600, value_name = "SECONDS")]
    pub ready_timeout: u64,
    /// Do not send the first request (servers without /v1/models and /v1/completions); the
    /// first-token times are then null.
    #[arg(long)]
    pub skip_first_token: bool,
    /// Write the results to this JSON file.
    #[arg(long, value_name = "FILE")]
    pub output_json: Option<PathBuf>,
    /// Keep every start-up's server log in this folder (cold-1.log, warmup-1.log,
    /// warm-1.log, …). Default: a temporary folder, removed unless the benchmark fails.
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
    /// Echo the server's output (it is always kept in its log file).
    #[arg(long)]
    pub show_stdout: bool,
}

/// The keys `llmsweep startup` may apply to this command: every flag's name and long
/// option with `-` → `_`, as vLLM's sweep collects them from its parser.
pub fn supported_keys() -> BTreeSet<String> {
    let cmd = Args::command();
    cmd.get_arguments()
        .flat_map(|a| {
            [
                Some(a.get_id().as_str().to_string()),
                a.get_long().map(|l| l.replace('-', "_")),
            ]
        })
        .flatten()
        .filter(|k| k != "help")
        .collect()
}

/// Run the benchmark, print vLLM's summary.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let output_json = args.output_json.clone();
    let report = run_bench_startup(BenchStartupOptions {
        serve_cmd: args.serve_cmd,
        server_url: args.server_url,
        num_iters_cold: args.num_iters_cold,
        num_iters_warmup: args.num_iters_warmup,
        num_iters_warm: args.num_iters_warm,
        cold_cmd: args.cold_cmd,
        fresh_cold_cache: !args.no_fresh_cache,
        ready_timeout_s: args.ready_timeout,
        first_token: !args.skip_first_token,
        output_json: args.output_json,
        log_dir: args.log_dir,
        show_stdout: args.show_stdout,
        exe: std::env::current_exe().context("cannot find llmsweep's own executable")?,
    })?;
    // SIGPIPE is blocked by now (the signal watcher): a closed stdout is an error, not a
    // panic.
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    write!(out, "{}", report.summary)?;
    if let Some(path) = output_json {
        writeln!(out, "Results written to {}", path.display())?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supported_keys_are_the_flags() {
        let keys = supported_keys();
        for k in [
            "serve_cmd",
            "num_iters_cold",
            "num_iters_warmup",
            "num_iters_warm",
            "cold_cmd",
            "ready_timeout",
            "output_json",
            "log_dir",
            "skip_first_token",
        ] {
            assert!(keys.contains(k), "{k} missing from {keys:?}");
        }
        assert!(!keys.contains("help") && !keys.contains("max_num_seqs"));
    }

    #[test]
    fn vllms_defaults() {
        use clap::Parser;
        let a = Args::try_parse_from(["startup"]).unwrap();
        assert_eq!(
            (a.num_iters_cold, a.num_iters_warmup, a.num_iters_warm),
            (3, 1, 3)
        );
        assert_eq!(a.ready_timeout, 600);
    }
}
