//! `llmsweep-sim`: a simulated vLLM-compatible server with a step-level
//! continuous-batching performance model, the default target of every llmsweep sweep.
//!
//! The model (reference: sim-model.md) simulates vLLM V1's engine step by step: a token
//! budget and `max_num_seqs` per step, chunked prefill, KV blocks sized from
//! `gpu_memory_utilization`, recompute preemption, a prefix cache keyed by block hashes,
//! tensor parallelism and async-scheduling admission lag. Each step lasts what a roofline
//! formula with a dozen calibrated constants says. Knees, prefill/decode interference, KV
//! pressure and queueing therefore emerge instead of being dialled in.
//!
//! The crate has three layers, and only the last does I/O:
//! - **model** — [`profile`] (named model × GPU profiles), [`step_time`] (the formula),
//!   [`capacity`] (KV-cache accounting and vLLM's start-up refusals), [`startup`]
//!   (cold/warm start-up phases), [`tokenizer`] and [`text`] (deterministic prompts and
//!   answers), [`config`] (flags → validated [`config::SimConfig`]);
//! - **engine** — [`engine`] (the scheduler, block pool, fixed-latency and data-parallel
//!   engines), [`sim::Simulator`] (engine + [`metrics`]) and [`virtual_run`] (workloads
//!   in virtual time, no sockets, no sleeping);
//! - **server** — [`api`] (request validation, vLLM-shaped responses and SSE, pure) and
//!   [`server`] (one engine thread owning the clock, axum routes writing bytes).
//!
//! The same seed, configuration and workload give the same token text and, in virtual
//! time, the same timestamps and metric dumps.
//!
//! ```
//! use llmsweep_sim::config::{SimOptions, resolve};
//! use llmsweep_sim::virtual_run::{Arrivals, RunOptions, WorkItem, run};
//!
//! // Llama-3.1-8B on one H100: 16 clients sending 512-token prompts for 64 tokens each.
//! let config = resolve(&SimOptions::default()).unwrap();
//! let work: Vec<WorkItem> = (0..32).map(|i| WorkItem::random(i, 512, 64)).collect();
//! let report = run(&config, &work, &Arrivals::closed_loop(16), &RunOptions::default());
//! let tpot = report.mean_over(0, u64::MAX, |r| r.tpot_s());
//! assert!(tpot > 0.0066 && tpot < 0.02, "{tpot}");
//! ```

#![warn(missing_docs)]

pub mod api;
pub mod capacity;
pub mod config;
pub mod engine;
mod hashing;
pub mod log;
pub mod metrics;
pub mod profile;
pub mod server;
pub mod sim;
pub mod startup;
pub mod step_time;
pub mod text;
pub mod tokenizer;
pub mod virtual_run;
pub mod vllm_argv;
pub mod vllm_flags;
