//! `llmsweep merge`: one experiment from the shards of a sweep — copy separate shard
//! folders into the first, check they ran the same sweep, rebuild `summary.csv` (and the
//! SLA answers), list what is missing or failed. Exit status 1 when something is, or when
//! two folders hold different copies of one file.

use std::path::PathBuf;
use std::process::ExitCode;

use llmsweep_sweep::merge::merge_experiments;

/// Flags of `llmsweep merge`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The experiment folder to merge into (shards that shared it are merged in place),
    /// then any folders that shards of the same sweep ran into separately: their files
    /// are copied in. The first folder may be new when others are given.
    #[arg(required = true, value_name = "EXPERIMENT_DIR")]
    pub dirs: Vec<PathBuf>,
}

/// Merge, print the report; exit 1 when a combination is missing or failed, a file could
/// not be read, or two folders hold different copies of a file.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let report = merge_experiments(&args.dirs)?;
    println!("{report}");
    // The merged folder is one experiment now: draw its charts and write its report.
    super::sweep_args::charts_and_report(&mut std::io::stdout().lock(), &report.target)?;
    Ok(if report.is_complete() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
