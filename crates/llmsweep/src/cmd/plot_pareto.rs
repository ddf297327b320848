//! `llmsweep plot pareto`: not built yet. Its owner replaces this file.

use std::process::ExitCode;

/// Flags of this subcommand.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Everything, until this subcommand exists.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub rest: Vec<String>,
}

/// Run the subcommand.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("this subcommand is not built yet")
}
