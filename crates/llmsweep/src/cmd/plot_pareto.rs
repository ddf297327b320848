//! `llmsweep plot-pareto`: output throughput per user against per GPU for every run, and
//! the Pareto frontier (vLLM: `vllm bench sweep plot_pareto`).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use llmsweep_plot::pareto::ParetoSpec;
use llmsweep_plot::pareto_cmd::{ParetoOptions, plot_pareto};
use llmsweep_plot::table::split_list;

use super::plot::{FormatArg, SizeArgs};

/// Flags of `llmsweep plot-pareto`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The sweep folder: every summary.json below it is read (llmsweep's or vLLM's).
    #[arg(value_name = "OUTPUT_DIR")]
    pub output_dir: PathBuf,
    /// The key holding the number of concurrent users; if a run lacks it, request_rate,
    /// then max_concurrent_requests, are used.
    #[arg(long, default_value = "max_concurrency")]
    pub user_count_var: String,
    /// The key holding the number of GPUs; otherwise tensor × pipeline × data parallel
    /// size, otherwise 1.
    #[arg(long)]
    pub gpu_count_var: Option<String>,
    /// Comma list of keys written beside each frontier point (gpu_count is the derived
    /// GPU count).
    #[arg(long, default_value = "max_concurrency,gpu_count")]
    pub label_by: String,
    /// Image format(s) to write.
    #[arg(long, value_enum, default_value = "both")]
    pub format: FormatArg,
    /// Plot size and resolution.
    #[command(flatten)]
    pub size: SizeArgs,
    /// Print the figure, its files and its frontier; draw nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Run `llmsweep plot-pareto`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let spec = ParetoSpec {
        user_count_var: args.user_count_var,
        gpu_count_var: args.gpu_count_var.filter(|s| !s.is_empty()),
        label_by: split_list(&args.label_by),
    };
    let opts = ParetoOptions {
        output_dir: args.output_dir,
        spec,
        formats: args.format.formats(),
        size: args.size.size()?,
        dry_run: args.dry_run,
    };
    let outcome = plot_pareto(&opts)?;
    let mut out = std::io::stdout().lock();
    if let Some(msg) = outcome.skipped_message(&opts.spec) {
        writeln!(out, "{msg}")?;
    }
    writeln!(out, "{}", outcome.describe())?;
    if opts.dry_run {
        writeln!(out, "Dry run: nothing drawn.")?;
    }
    Ok(ExitCode::SUCCESS)
}
