//! The engines: pure discrete-event models in virtual time (integer nanoseconds).
//!
//! An engine never reads a clock and never sleeps. Its owner submits requests stamped with
//! their arrival time, asks for the time of the next event, and advances the engine to a
//! time; the engine answers with the tokens that became ready ([`Emission`]s), each stamped
//! with the virtual time it leaves the server. The same calls drive the real-time server
//! (one engine thread owns the clock) and the in-process virtual-time runs used by tests
//! and large sweeps.

pub mod block_pool;
pub mod cluster;
pub mod fixed;
pub mod step;
#[cfg(test)]
mod step_tests;

/// Identifies a request; chosen by the caller, unique among live requests.
pub type RequestId = u64;

/// Why a request stopped generating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FinishReason {
    /// It reached `max_tokens` (or `max_model_len`).
    Length,
    /// The simulated model ended its answer (EOS).
    Stop,
    /// The client went away.
    Abort,
}

impl FinishReason {
    /// vLLM's spelling (`finish_reason` in responses, `finished_reason` label in metrics).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Length => "length",
            Self::Stop => "stop",
            Self::Abort => "abort",
        }
    }
}

/// A request as an engine sees it: lengths, block hashes, when it arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRequest {
    /// Caller-chosen id.
    pub id: RequestId,
    /// Virtual time the request reached the server.
    pub arrival_ns: u64,
    /// Prompt tokens `P`.
    pub prompt_len: u32,
    /// Chained hashes of the prompt's full blocks ([`crate::hashing::chain_block_hash`]).
    pub block_hashes: Vec<u64>,
    /// Prompt tokens after the last full block (needed to hash blocks that mix prompt and
    /// generated tokens).
    pub prompt_tail: Vec<u32>,
    /// Fixes the generated token ids ([`crate::text::text_key`]).
    pub text_key: u64,
    /// Tokens to generate `O` (at least 1).
    pub output_len: u32,
    /// Reported when `output_len` tokens are done.
    pub finish: FinishReason,
}

/// Tokens of one request that became ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Emission {
    /// The request.
    pub id: RequestId,
    /// Virtual time the tokens leave the server.
    pub time_ns: u64,
    /// Tokens generated so far, this emission included.
    pub generated: u32,
    /// Set on the request's last emission.
    pub finish: Option<FinishReason>,
    /// Prompt tokens served from the prefix cache at first admission.
    pub cached_tokens: u32,
}

/// Instantaneous state for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Gauges {
    /// Requests in the running batch.
    pub running: u64,
    /// Requests waiting (including those still in ingress).
    pub waiting: u64,
    /// Share of KV blocks in use, `[0, 1]`.
    pub kv_usage: f64,
}

/// One executed step, for tests and traces.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepRecord {
    /// Which data-parallel replica ran it.
    pub replica: u32,
    /// Virtual start time.
    pub start_ns: u64,
    /// Virtual end time.
    pub end_ns: u64,
    /// Tokens computed.
    pub tokens: u32,
    /// Sequences scheduled.
    pub seqs: u32,
    /// Of which decodes.
    pub decodes: u32,
    /// Requests in `running` once the step was planned.
    pub running: u32,
    /// Requests in `waiting` once the step was planned.
    pub waiting: u32,
    /// Whether planning preempted a request.
    pub preempted: bool,
    /// Share of KV blocks in use once the step was planned.
    pub kv_usage: f64,
}

/// Convert seconds to whole nanoseconds (rounded).
pub fn secs_to_ns(s: f64) -> u64 {
    (s * 1e9).round().max(0.0) as u64
}

/// Convert nanoseconds to seconds.
pub fn ns_to_secs(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// Chained hashes of a prompt's full blocks, and the tokens after the last full block: the
/// `block_hashes` and `prompt_tail` of a [`NewRequest`].
pub fn prompt_blocks(tokens: &[u32], block_size: u32) -> (Vec<u64>, Vec<u32>) {
    let bs = block_size.max(1) as usize;
    let mut hashes = Vec::with_capacity(tokens.len() / bs);
    let mut prev = 0;
    let mut chunks = tokens.chunks_exact(bs);
    for block in &mut chunks {
        prev = crate::hashing::chain_block_hash(prev, block);
        hashes.push(prev);
    }
    (hashes, chunks.remainder().to_vec())
}
