//! `llmsweep-bench`: the load generator behind `llmsweep bench serve`, a benchmark client
//! compatible with `vllm bench serve` that measures accurately at high load.
//!
//! The pipeline is `dataset` (prompts) → `schedule` (arrival times) → `runner` + `client`
//! (HTTP + SSE, timestamps taken as bytes arrive) → `metrics` (TTFT, TPOT, ITL, E2EL, goodput,
//! schedule-based latencies) → `result` (vLLM's result JSON, byte-compatible with Python's
//! `json.dump`). [`bench::run`] drives it all from a [`config::BenchConfig`]; the CLI crate only
//! maps flags onto that struct and prints. This crate depends on no other llmsweep crate.
//!
//! The HTTP side is [`http1`]: each request's own task reads its socket and timestamps the
//! bytes before parsing them, on Linux with the kernel's receive time of the bytes
//! (`SO_TIMESTAMPNS`), so a client that reads a socket late still records when the token
//! arrived. [`testserver`] is a fault-injecting streaming server for tests and
//! the speed benchmark (`examples/fixed_server.rs`, `bench/client/`).
//!
//! Keys written after vLLM's (never one of vLLM's names):
//! - `{mean,median,std,pP}_ttft_from_schedule_ms`, `…_e2el_from_schedule_ms`: TTFT and E2EL
//!   measured from each request's *intended* send time, so queueing behind the concurrency
//!   limit or a late client is not hidden (coordinated omission).
//! - `{mean,p99,max}_send_lag_ms`: actual − intended send time (includes the wait for a
//!   `--max-concurrency` slot); `{mean,p99,max}_dispatch_lag_ms`: how late the dispatcher
//!   released requests; `{mean,p99,max}_wakeup_lag_ms`: how late the runtime woke a 5 ms probe
//!   timer (saturation).
//! - `itl_same_read_fraction`: share of inter-token gaps of exactly 0 (chunks in one read).
//! - `client_bound`: `true` when the p99 wake-up lag, or (with a finite rate) the p99 dispatch
//!   lag, exceeds 5 ms; also printed as a warning.
//!
//! Known differences from `vllm bench serve` 0.33.0 (same keys and formulas otherwise):
//! - `max_concurrent_requests` is the exact peak (a sweep line over `[start, end)`, as in
//!   vLLM's newest source); 0.33.0 counts requests per one-second bucket, which overcounts
//!   (16 against 4 in `tests/fixtures`).
//! - Arrival gaps and random prompts come from a seeded ChaCha generator, not numpy's streams:
//!   same distributions and lengths, different draws. Without a tokenizer, random prompts are
//!   token ids from `[1000, 30000)` (never re-aligned, as in vLLM).
//! - Re-aligning text prompts to the server's tokenizer ([`realign`], `random` and
//!   `prefix_repetition`) names the model the requests name and sends the API key and
//!   `--header` pairs; vLLM sends the model id (the listed `root` when discovered) and no
//!   headers, so it skips the step where the server wants a key or serves another name.
//! - A chunk's arrival time (TTFT, ITL, E2EL) is when its bytes reached the client's socket
//!   (the kernel's receive timestamp, Linux), not when the client got around to reading them;
//!   vLLM takes `time.perf_counter()` when its event loop hands it the chunk, so its own delays
//!   are in its numbers. The request's start is taken just before its bytes are written, as in
//!   vLLM. `LLMSWEEP_BENCH_CLOCK=user` takes the time after the read instead (see [`http1`]).
//! - Errors read `HTTP 500 Internal Server Error: <body>` or a one-line cause instead of the
//!   reason phrase or a Python traceback; `start_times` count from the start of the run.
//! - A request that breaks mid-stream keeps its partial text in `generated_texts` (vLLM
//!   writes `""` when an exception ends the stream); its `ttfts` and `itls` are kept in both.
//! - Not written: `server_queue_times` / `server_ttfts` (detailed only), the `diffusion_*` and
//!   `probe_*` keys.
//!
//! ```no_run
//! # async fn demo(cfg: llmsweep_bench::config::BenchConfig) -> anyhow::Result<()> {
//! let report = llmsweep_bench::bench::run(&cfg, std::sync::Arc::new(llmsweep_bench::runner::Silent)).await?;
//! println!("{}", report.summary);
//! # Ok(()) }
//! ```

pub mod bench;
pub mod body;
pub mod chat_template;
pub mod chunk;
pub mod client;
pub mod config;
pub mod dataset;
pub mod discovery;
pub mod http1;
pub mod metrics;
pub mod pyjson;
pub mod realign;
pub mod result;
pub mod result_file;
pub mod runner;
pub mod schedule;
pub mod spec_decode;
pub mod sse;
pub mod stats;
pub mod summary;
pub mod testserver;
pub mod tokenizer;
