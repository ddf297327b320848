//! `llmsweep-sim`: a simulated vLLM-compatible server.
pub mod api;
pub mod capacity;
pub mod config;
pub mod engine;
mod hashing;
mod log;
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
