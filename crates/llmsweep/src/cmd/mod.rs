//! One file per subcommand: a clap `Args` struct and a `run` function that calls library code.

pub mod bench_serve;
pub mod bench_startup;
pub mod merge;
pub mod plan;
pub mod plot;
pub mod plot_pareto;
pub mod report;
pub mod serve;
pub mod serve_sla;
pub mod serve_workload;
pub mod sim;
pub mod startup;
pub mod sweep_args;
pub mod util;
