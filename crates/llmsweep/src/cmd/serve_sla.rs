//! `llmsweep serve-sla`: the highest load that meets an SLA (vLLM: `vllm bench sweep
//! serve_sla`).

use std::path::PathBuf;
use std::process::ExitCode;

use llmsweep_sweep::sla::{SlaOptions, SlaVariable};

use super::sweep_args::{SweepArgs, finish};

/// The load variable to tune.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Variable {
    /// Requests per second.
    #[value(name = "request_rate")]
    RequestRate,
    /// Requests in flight.
    #[value(name = "max_concurrency")]
    MaxConcurrency,
}

impl From<Variable> for SlaVariable {
    fn from(v: Variable) -> Self {
        match v {
            Variable::RequestRate => SlaVariable::RequestRate,
            Variable::MaxConcurrency => SlaVariable::MaxConcurrency,
        }
    }
}

/// Flags of `llmsweep serve-sla`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    sweep: SweepArgs,
    /// JSON file: a list of criteria sets, each an object {"<metric>": "<op><value>"} with op
    /// one of <=, >=, <, > (e.g. [{"p99_e2el_ms": "<=500"}, {"p99_ttft_ms": "<=300",
    /// "p99_tpot_ms": "<=50"}]); a set holds when all its criteria hold.
    #[arg(long, value_name = "FILE")]
    sla_params: PathBuf,
    /// The load variable searched for each combination and criteria set.
    #[arg(long, value_enum, default_value = "request_rate")]
    sla_variable: Variable,
    /// For request_rate: stop when the bracket is this narrow, relative to its lower end.
    #[arg(long, default_value_t = 0.01, value_name = "FRACTION")]
    sla_tolerance: f64,
    /// Runs at a value whose --num-runs runs disagree (some pass, some fail), before it is
    /// judged on the mean. Default: --num-runs + 2.
    #[arg(long, value_name = "N")]
    max_runs: Option<u32>,
    /// The smallest value searched (default 1).
    #[arg(long, value_name = "VALUE")]
    sla_min_value: Option<f64>,
    /// The largest value searched (default: the dataset size for max_concurrency, inf for
    /// request_rate).
    #[arg(long, value_name = "VALUE")]
    sla_max_value: Option<f64>,
}

/// Run the SLA search, then print its answers.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let outcome = llmsweep_sweep::sla::run_serve_sla(SlaOptions {
        sweep: args.sweep.into_options()?,
        sla_params: args.sla_params,
        variable: args.sla_variable.into(),
        tolerance: args.sla_tolerance,
        max_runs: args.max_runs,
        min_value: args.sla_min_value,
        max_value: args.sla_max_value,
    })?;
    finish(&outcome)
}
