//! `llmsweep startup`: sweep server start-up time over parameter files (vLLM:
//! `vllm bench sweep startup`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use llmsweep_sweep::startup::sweep::{StartupSweepOptions, run_startup_sweep, startup_table};

/// Flags of `llmsweep startup`, with vLLM's names and defaults.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The startup benchmark command. Default: `llmsweep bench startup` (add your server with
    /// its --serve-cmd, e.g. "llmsweep bench startup --serve-cmd 'vllm serve m'"). Each run
    /// gets --output-json <run file>.
    #[arg(long, value_name = "CMD")]
    pub startup_cmd: Option<String>,
    /// JSON file of server parameter items: a list of objects, or {name: {params}}. With
    /// `llmsweep bench startup`, each item rewrites the server command given by its
    /// --serve-cmd; with another command (e.g. `vllm bench startup`), the command itself,
    /// keeping only keys it accepts.
    #[arg(long, value_name = "FILE")]
    pub serve_params: Option<PathBuf>,
    /// JSON file of startup parameter items, rewriting the startup command; keys it does
    /// not accept are dropped with a warning.
    #[arg(long, value_name = "FILE")]
    pub startup_params: Option<PathBuf>,
    /// Make a parameter the startup command does not accept an error instead of a warning.
    #[arg(long)]
    pub strict_params: bool,
    /// Folder for experiments.
    #[arg(short = 'o', long, default_value = "results", value_name = "DIR")]
    pub output_dir: PathBuf,
    /// The experiment's folder name inside --output-dir. Default: the time, YYYYMMDD_HHMMSS.
    #[arg(short = 'e', long, value_name = "NAME")]
    pub experiment_name: Option<String>,
    /// Runs per combination.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub num_runs: u32,
    /// Echo the startup command's output (it is always kept in run=N.log).
    #[arg(long)]
    pub show_stdout: bool,
    /// Print every command and the output folder; run and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Continue an existing experiment: finished runs are kept, only missing ones run.
    #[arg(long)]
    pub resume: bool,
    #[command(flatten)]
    pub shard: super::sweep_args::ShardArgs,
}

/// Run the sweep, then print its results.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let shard = args.shard.resolve()?;
    let outcome = run_startup_sweep(StartupSweepOptions {
        startup_cmd: args.startup_cmd,
        serve_params: args.serve_params,
        startup_params: args.startup_params,
        strict_params: args.strict_params,
        output_dir: args.output_dir,
        experiment_name: args.experiment_name,
        num_runs: args.num_runs,
        show_stdout: args.show_stdout,
        dry_run: args.dry_run,
        resume: args.resume,
        exe: std::env::current_exe().context("cannot find llmsweep's own executable")?,
        argv: std::env::args().collect(),
        bench_startup_keys: super::bench_startup::supported_keys(),
        shard,
    })?;
    if outcome.dry_run {
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    if !outcome.rows.is_empty() {
        writeln!(out, "{}", startup_table(&outcome.rows))?;
    }
    writeln!(out, "\nResults: {}", outcome.experiment_dir.display())?;
    if let Some(csv) = &outcome.summary_csv {
        writeln!(out, "Summary: {csv}", csv = csv.display())?;
    }
    match shard {
        Some(shard) => writeln!(
            out,
            "This was shard {shard}. Once every shard has finished, combine them with:\n  llmsweep merge {}",
            outcome.experiment_dir.display()
        )?,
        None => super::sweep_args::charts_and_report(&mut out, &outcome.experiment_dir)?,
    }
    Ok(ExitCode::SUCCESS)
}
