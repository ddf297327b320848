//! Server start-up time, for any engine: `llmsweep bench startup` times one server's cold
//! and warm start-ups, `llmsweep startup` sweeps it over parameter files (vLLM's
//! `vllm bench startup` and `vllm bench sweep startup`).
//!
//! vLLM's `vllm bench startup` times the construction of an engine inside a Python
//! process, and works only for vLLM. Ours times what a user waits for, from outside, with
//! any server: the process starts → its port accepts connections → `GET /health` answers
//! 200 (`startup_time`, vLLM's key) → the first token of one short streamed request
//! arrives. Compilation times come from the server's log when it prints vLLM's lines.
//!
//! Both commands live in the sweep room, not in `bench`: timing a start-up is starting and
//! stopping servers, which is this room's job, so they reuse its process supervision
//! ([`crate::process`]: own process group, parent-death signal, log capture, SIGTERM →
//! grace → SIGKILL to the group), its signal handling ([`crate::signals`]) and its
//! experiment folder ([`crate::experiment`]). No server is ever left running, on success,
//! error, Ctrl-C or SIGTERM.
//!
//! - [`bench`]: `llmsweep bench startup` — phases, cold-start caches, the result file;
//! - [`iteration`]: one timed start-up, stop, and port release;
//! - [`first_token`]: `/v1/models` and the first streamed token (HTTP, chunked, SSE);
//! - [`compile_log`]: compilation and CUDA-graph times from a server's log;
//! - [`result`]: the result JSON (vLLM's keys and ours) and the console summary;
//! - [`stats`]: numpy's mean and linear percentiles;
//! - [`command`]: a run's command in the sweep (serve items inside `--serve-cmd`,
//!   `--output-json`);
//! - [`plan`]: the sweep's items (supported keys, `--strict-params`) and combinations;
//! - [`sweep`]: `llmsweep startup` — layout, resume, dry run, summaries.

pub mod bench;
pub mod command;
pub mod compile_log;
pub mod first_token;
pub mod iteration;
pub mod plan;
pub mod result;
pub mod stats;
pub mod sweep;
