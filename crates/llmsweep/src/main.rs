//! `llmsweep`: one binary that finds the best way to serve a large language model.
//!
//! This crate only parses the command line and wires the library rooms together
//! (see docs/ARCHITECTURE.md). Every subcommand lives in its own file under `cmd/`,
//! with a typed clap `Args` struct and a `run` function.

mod cmd;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// Find the best way to serve a large language model: sweep server settings × load,
/// search for the highest load that meets an SLA, time start-up, and plot the results.
#[derive(Debug, Parser)]
#[command(name = "llmsweep", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process; boxing the larger variants would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Sweep server settings × benchmark settings (vLLM: `vllm bench sweep serve`).
    Serve(cmd::serve::Args),
    /// Find the highest load that meets an SLA (vLLM: `vllm bench sweep serve_sla`).
    #[command(name = "serve-sla", alias = "serve_sla")]
    ServeSla(cmd::serve_sla::Args),
    /// Trace the latency–throughput curve between serial and batch load (vLLM: `serve_workload`).
    #[command(name = "serve-workload", alias = "serve_workload")]
    ServeWorkload(cmd::serve_workload::Args),
    /// Sweep server start-up time (vLLM: `vllm bench sweep startup`).
    Startup(cmd::startup::Args),
    /// Draw latency/throughput curves from a sweep folder (vLLM: `vllm bench sweep plot`).
    Plot(cmd::plot::Args),
    /// Draw the tokens/s/user vs tokens/s/GPU Pareto frontier (vLLM: `plot_pareto`).
    #[command(name = "plot-pareto", alias = "plot_pareto")]
    PlotPareto(cmd::plot_pareto::Args),
    /// Write a self-contained HTML report of a sweep folder.
    Report(cmd::report::Args),
    /// Merge the shards of a sweep into one summary.
    Merge(cmd::merge::Args),
    /// Print a Slurm or Kubernetes job that runs a sweep as shards.
    Plan(cmd::plan::Args),
    /// Run the simulated vLLM-compatible server.
    Sim(cmd::sim::Args),
    /// Benchmark clients (vLLM: `vllm bench serve`, `vllm bench startup`).
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Benchmark an OpenAI-compatible server (vLLM: `vllm bench serve`).
    Serve(cmd::bench_serve::Args),
    /// Time a server's start-up, cold and warm (vLLM: `vllm bench startup`).
    Startup(cmd::bench_startup::Args),
}

/// Let every flag of every subcommand be given more than once, the last one winning, and
/// take `-1` as a (bad) value rather than an unknown flag, so the error names the flag.
fn with_overrides(cmd: clap::Command) -> clap::Command {
    cmd.args_override_self(true)
        .allow_negative_numbers(true)
        .mut_subcommands(with_overrides)
}

fn main() -> ExitCode {
    cmd::util::restore_sigpipe();
    let argv = cmd::util::normalize_flag_spelling(std::env::args_os());
    // argparse semantics, as vLLM users expect: a repeated flag takes its last value.
    let matches = with_overrides(Cli::command()).get_matches_from(argv);
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let outcome = match cli.command {
        Command::Serve(args) => cmd::serve::run(args),
        Command::ServeSla(args) => cmd::serve_sla::run(args),
        Command::ServeWorkload(args) => cmd::serve_workload::run(args),
        Command::Startup(args) => cmd::startup::run(args),
        Command::Plot(args) => cmd::plot::run(args),
        Command::PlotPareto(args) => cmd::plot_pareto::run(args),
        Command::Report(args) => cmd::report::run(args),
        Command::Merge(args) => cmd::merge::run(args),
        Command::Plan(args) => cmd::plan::run(args),
        Command::Sim(args) => cmd::sim::run(args),
        Command::Bench(BenchCommand::Serve(args)) => cmd::bench_serve::run(args),
        Command::Bench(BenchCommand::Startup(args)) => cmd::bench_startup::run(args),
    };
    match outcome {
        Ok(code) => code,
        Err(err) => {
            cmd::util::print_error(&err);
            ExitCode::FAILURE
        }
    }
}
