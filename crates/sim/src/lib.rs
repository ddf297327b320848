//! `llmsweep-sim`: a simulated vLLM-compatible server.
pub mod capacity;
pub mod config;
pub mod engine;
mod hashing;
pub mod metrics;
pub mod profile;
pub mod sim;
pub mod startup;
pub mod step_time;
pub mod text;
pub mod tokenizer;
pub mod virtual_run;
