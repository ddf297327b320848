//! `llmsweep serve`: sweep server settings × benchmark settings, as `vllm bench sweep serve`.

use std::process::ExitCode;

use super::sweep_args::{SweepArgs, finish};

/// Flags of `llmsweep serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    sweep: SweepArgs,
}

/// Run the sweep, then print its results.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let outcome = llmsweep_sweep::serve::run_serve(args.sweep.into_options()?)?;
    finish(&outcome)
}
