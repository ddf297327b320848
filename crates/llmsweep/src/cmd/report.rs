//! `llmsweep report`: write OUTPUT_DIR/report.html, one self-contained page (no network
//! needed) with the experiment's commands, results, charts, SLA answers, start-up times
//! and failures.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Flags of `llmsweep report`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The experiment folder (written by llmsweep or by vLLM's `vllm bench sweep`).
    #[arg(value_name = "OUTPUT_DIR")]
    pub output_dir: PathBuf,
}

/// Run `llmsweep report`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let path = llmsweep_plot::report::write_report(&args.output_dir)?;
    writeln!(std::io::stdout().lock(), "Wrote {}", path.display())?;
    Ok(ExitCode::SUCCESS)
}
