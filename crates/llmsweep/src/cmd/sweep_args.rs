//! The flags every server sweep shares (vLLM's `SweepServeArgs`), and what every sweep
//! prints when it ends.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};

use llmsweep_sweep::options::SweepOptions;
use llmsweep_sweep::progress::results_table;
use llmsweep_sweep::serve::SweepOutcome;
use llmsweep_sweep::shard::Shard;

/// Flags shared by `serve`, `serve-sla` and `serve-workload`, with vLLM's names and
/// defaults.
#[derive(Debug, Clone, clap::Args)]
pub struct SweepArgs {
    /// The server command, e.g. 'vllm serve meta-llama/Llama-3.1-8B-Instruct'. Default: the
    /// built-in simulator, `llmsweep sim`, on a free port.
    #[arg(long, value_name = "CMD")]
    pub serve_cmd: Option<String>,
    /// The benchmark command, e.g. 'vllm bench serve --model …'. Default: the native client,
    /// `llmsweep bench serve`, pointed at the server.
    #[arg(long, value_name = "CMD")]
    pub bench_cmd: Option<String>,
    /// Run this after each benchmark run instead of the default cache reset (POST
    /// /reset_prefix_cache, /reset_mm_cache, /reset_encoder_cache for vLLM and the simulator;
    /// /flush_cache for SGLang). Needed for other servers; 'true' skips resets.
    #[arg(long, value_name = "CMD")]
    pub after_bench_cmd: Option<String>,
    /// Echo the server's and the benchmark's output (it is always kept in log files).
    #[arg(long)]
    pub show_stdout: bool,
    /// Seconds to wait for GET /health to answer 200 after starting a server.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    pub server_ready_timeout: u64,
    /// Where the server answers (for /health and cache resets), e.g. http://127.0.0.1:8000.
    /// Default: --host/--port of the serve command (localhost:8000).
    #[arg(long, value_name = "URL")]
    pub server_url: Option<String>,
    /// JSON file of server parameter items: a list of objects, or {name: {params}}. Each
    /// item rewrites --serve-cmd. Default: one empty item.
    #[arg(long, value_name = "FILE")]
    pub serve_params: Option<PathBuf>,
    /// JSON file of benchmark parameter items, as --serve-params, rewriting --bench-cmd.
    #[arg(long, value_name = "FILE")]
    pub bench_params: Option<PathBuf>,
    /// Link serve and bench keys, 'serve_key=bench_key,…': a combination runs only if the
    /// linked values are equal.
    #[arg(long, default_value = "", value_name = "PAIRS")]
    pub link_vars: String,
    /// Folder for experiments.
    #[arg(short = 'o', long, default_value = "results", value_name = "DIR")]
    pub output_dir: PathBuf,
    /// The experiment's folder name inside --output-dir. Default: the time, YYYYMMDD_HHMMSS.
    #[arg(short = 'e', long, value_name = "NAME")]
    pub experiment_name: Option<String>,
    /// Measured runs per combination.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub num_runs: u32,
    /// Before each combination, one unmeasured run with this many prompts (saved as
    /// warmup.json, kept out of the summaries). 0: none.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub warmup_num_prompts: u32,
    /// Record a failed run or server in a *.failure.json file and go on.
    #[arg(long)]
    pub continue_on_error: bool,
    /// Print every command and the output folder; run and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Continue an existing experiment: finished runs are kept, only what is missing runs.
    #[arg(long)]
    pub resume: bool,
    #[command(flatten)]
    pub shard: ShardArgs,
}

impl SweepArgs {
    /// The library's options.
    pub fn into_options(self) -> Result<SweepOptions> {
        Ok(SweepOptions {
            serve_cmd: self.serve_cmd,
            bench_cmd: self.bench_cmd,
            after_bench_cmd: self.after_bench_cmd,
            show_stdout: self.show_stdout,
            server_ready_timeout_s: self.server_ready_timeout,
            server_url: self.server_url,
            serve_params: self.serve_params,
            bench_params: self.bench_params,
            link_vars: self.link_vars,
            output_dir: self.output_dir,
            experiment_name: self.experiment_name,
            num_runs: self.num_runs,
            warmup_num_prompts: self.warmup_num_prompts,
            continue_on_error: self.continue_on_error,
            dry_run: self.dry_run,
            resume: self.resume,
            exe: std::env::current_exe().context("cannot find llmsweep's own executable")?,
            argv: std::env::args().collect(),
            shard: self.shard.resolve()?,
        })
    }
}

/// Which shard of a sweep this process runs: `--shard K/N`, or a job array's index.
#[derive(Debug, Clone, clap::Args)]
pub struct ShardArgs {
    /// Run shard K of N (0-based): the serve items i with i mod N = K. Without it, a Slurm
    /// array task (SLURM_ARRAY_TASK_ID) or a Kubernetes Indexed Job (JOB_COMPLETION_INDEX,
    /// with --num-shards) picks its shard. Shards share one experiment folder.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// The number of shards, for JOB_COMPLETION_INDEX (Kubernetes) or a Slurm array (it
    /// wins over the array's own bounds, so one task resubmitted alone keeps its shard).
    #[arg(long, value_name = "N")]
    pub num_shards: Option<u32>,
}

impl ShardArgs {
    /// The shard, from the flags or the environment.
    pub fn resolve(&self) -> Result<Option<Shard>> {
        Shard::resolve(self.shard.as_deref(), self.num_shards, |k| {
            std::env::var(k).ok()
        })
    }
}

/// Print the end of a sweep: the results table, failures, and where everything is.
pub fn finish(outcome: &SweepOutcome) -> Result<ExitCode> {
    use std::io::Write;
    if outcome.dry_run {
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    if !outcome.rows.is_empty() {
        writeln!(out, "{}", results_table(&outcome.rows))?;
    }
    for table in &outcome.tables {
        writeln!(out, "{table}")?;
    }
    if !outcome.failures.is_empty() {
        writeln!(
            out,
            "\n{} failure(s), recorded in *.failure.json files (resume with --resume to retry):",
            outcome.failures.len()
        )?;
        for f in &outcome.failures {
            writeln!(out, "  - {f}")?;
        }
    }
    writeln!(out, "\nResults: {}", outcome.experiment_dir.display())?;
    if let Some(csv) = &outcome.summary_csv {
        writeln!(out, "Summary: {}", csv.display())?;
    }
    match outcome.shard {
        // A shard's folder holds only part of the sweep: charts come after the merge.
        Some(shard) => writeln!(
            out,
            "This was shard {shard}. Once every shard has finished, combine them (and draw the charts and report) with:\n  llmsweep merge {}",
            outcome.experiment_dir.display()
        )?,
        None => charts_and_report(&mut out, &outcome.experiment_dir)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Draw the default charts and write the HTML report of an experiment folder, and say
/// where they are. Drawing never fails a sweep whose results are safely on disk: a problem
/// is reported and the command to retry it is given.
pub fn charts_and_report(out: &mut impl std::io::Write, dir: &std::path::Path) -> Result<()> {
    match llmsweep_plot::defaults::draw_default_charts(dir) {
        Ok(charts) => {
            if !charts.files.is_empty() {
                writeln!(out, "Charts:")?;
                for f in &charts.files {
                    writeln!(out, "  {}", f.display())?;
                }
            }
            for note in &charts.notes {
                writeln!(out, "  (no chart: {note})")?;
            }
        }
        Err(e) => writeln!(
            out,
            "Charts could not be drawn: {e} (retry with `llmsweep plot {}`)",
            dir.display()
        )?,
    }
    match llmsweep_plot::report::write_report(dir) {
        Ok(path) => writeln!(out, "Report: {}", path.display())?,
        Err(e) => writeln!(
            out,
            "The report could not be written: {e} (retry with `llmsweep report {}`)",
            dir.display()
        )?,
    }
    Ok(())
}
