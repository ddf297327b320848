//! `llmsweep plot-pareto`: output throughput per user against per GPU for every run, and
//! the Pareto frontier (vLLM: `vllm bench sweep plot_pareto`).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use llmsweep_plot::pareto::{DERIVED_LABELS, ParetoSpec};
use llmsweep_plot::pareto_cmd::{ParetoOptions, plot_pareto};
use llmsweep_plot::table::split_list;

use super::plot::{FormatArg, SizeArgs};

/// Flags of `llmsweep plot-pareto`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The sweep folder: every summary.json below it is read (llmsweep's or vLLM's).
    #[arg(value_name = "OUTPUT_DIR")]
    pub output_dir: PathBuf,
    /// The key holding the number of concurrent users (default: max_concurrency); if a
    /// run lacks it, request_rate, then max_concurrent_requests, are used. A key given here
    /// must be in some run.
    #[arg(long)]
    pub user_count_var: Option<String>,
    /// The key holding the number of GPUs (must be in some run); where a run lacks it,
    /// tensor × pipeline × data parallel size, otherwise 1.
    #[arg(long)]
    pub gpu_count_var: Option<String>,
    /// Comma list of keys written beside each frontier point (default:
    /// max_concurrency,gpu_count; gpu_count and user_count are the derived counts). A key
    /// given here must be in some run.
    #[arg(long)]
    pub label_by: Option<String>,
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
    // Variables named on the command line must exist; the defaults may be missing (a
    // request-rate sweep has no max_concurrency) and fall back as vLLM's do.
    let mut required = Vec::new();
    let defaults = ParetoSpec::default();
    let user_count_var = match args.user_count_var.filter(|s| !s.is_empty()) {
        Some(var) => {
            required.push(("user_count_var".to_string(), var.clone()));
            var
        }
        None => defaults.user_count_var,
    };
    let gpu_count_var = args.gpu_count_var.filter(|s| !s.is_empty());
    if let Some(var) = &gpu_count_var {
        required.push(("gpu_count_var".to_string(), var.clone()));
    }
    let label_by = match &args.label_by {
        Some(list) => {
            let keys = split_list(list);
            for key in &keys {
                if !DERIVED_LABELS.contains(&key.as_str()) {
                    required.push(("label_by".to_string(), key.clone()));
                }
            }
            keys
        }
        None => defaults.label_by,
    };
    let spec = ParetoSpec {
        user_count_var,
        gpu_count_var,
        label_by,
    };
    let opts = ParetoOptions {
        output_dir: args.output_dir,
        spec,
        formats: args.format.formats(),
        size: args.size.size()?,
        dry_run: args.dry_run,
        required,
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
