//! `llmsweep-bench`: the load generator behind `llmsweep bench serve`, a benchmark client
//! compatible with `vllm bench serve` that measures accurately at high load.
//!
//! The pipeline is `dataset` (prompts) → `schedule` (arrival times) → `runner` + `client`
//! (HTTP + SSE, timestamps taken as bytes arrive) → `metrics` (TTFT, TPOT, ITL, E2EL, goodput,
//! schedule-based latencies) → `result` (vLLM's result JSON, byte-compatible with Python's
//! `json.dump`). [`bench::run`] drives it all from a [`config::BenchConfig`]; the CLI crate only
//! maps flags onto that struct and prints. This crate depends on no other llmsweep crate.
//!
//! ```no_run
//! # async fn demo(cfg: llmsweep_bench::config::BenchConfig) -> anyhow::Result<()> {
//! let report = llmsweep_bench::bench::run(&cfg, std::sync::Arc::new(llmsweep_bench::runner::Silent)).await?;
//! println!("{}", report.summary);
//! # Ok(()) }
//! ```

pub mod bench;
pub mod body;
pub mod chunk;
pub mod client;
pub mod config;
pub mod dataset;
pub mod discovery;
pub mod http1;
pub mod metrics;
pub mod pyjson;
pub mod result;
pub mod result_file;
pub mod runner;
pub mod schedule;
pub mod sse;
pub mod stats;
pub mod summary;
pub mod testserver;
pub mod tokenizer;
