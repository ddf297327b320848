//! `llmsweep serve-workload`: the latency–throughput curve between serial and batch load
//! (vLLM: `vllm bench sweep serve_workload`).

use std::process::ExitCode;

use llmsweep_sweep::workload::WorkloadOptions;

use super::serve_sla::Variable;
use super::sweep_args::{SweepArgs, finish};

/// Flags of `llmsweep serve-workload`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    sweep: SweepArgs,
    /// The load variable whose levels are explored.
    #[arg(long, value_enum, default_value = "request_rate")]
    workload_var: Variable,
    /// Levels in all, the serial (max_concurrency=1) and batch (max_concurrency=dataset
    /// size) runs included; at least 2.
    #[arg(long, default_value_t = 10, value_name = "N")]
    workload_iters: u32,
}

/// Run the workload sweep, then print its results.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let outcome = llmsweep_sweep::workload::run_serve_workload(WorkloadOptions {
        sweep: args.sweep.into_options()?,
        variable: args.workload_var.into(),
        iters: args.workload_iters,
    })?;
    finish(&outcome)
}
