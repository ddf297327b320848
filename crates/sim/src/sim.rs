//! [`Simulator`]: one engine (or a data-parallel cluster of them) plus its metrics, behind
//! the small set of calls both the real-time server and virtual-time runs use.

use crate::engine::cluster::Cluster;
use crate::engine::fixed::FixedEngine;
use crate::engine::{Emission, Gauges, NewRequest, RequestId, StepRecord};
use crate::metrics::{CacheInfo, Metrics};

/// The engine behind a simulator.
#[derive(Debug, Clone)]
pub enum Backend {
    /// The step-level continuous-batching model (roofline profiles).
    Steps(Cluster),
    /// Constant latencies (`fixed`, `instant`).
    Fixed(FixedEngine),
}

/// An engine with its metrics, driven in virtual time.
#[derive(Debug, Clone)]
pub struct Simulator {
    backend: Backend,
    metrics: Metrics,
    cache_info: CacheInfo,
}

impl Simulator {
    /// A simulator over `backend`; usually built by [`crate::config::SimConfig::build`].
    pub fn new(backend: Backend, cache_info: CacheInfo, max_model_len: u32) -> Self {
        Self {
            backend,
            metrics: Metrics::with_max_model_len(max_model_len),
            cache_info,
        }
    }

    /// Accept a request (its `arrival_ns` must not be earlier than the last time the
    /// simulator was advanced to, or it is treated as arriving then).
    pub fn submit(&mut self, r: NewRequest) {
        match &mut self.backend {
            Backend::Steps(c) => c.submit(r),
            Backend::Fixed(f) => f.submit(r),
        }
    }

    /// Drop a request the client abandoned. Returns whether it was live.
    pub fn abort(&mut self, id: RequestId) -> bool {
        match &mut self.backend {
            Backend::Steps(c) => c.abort(id, &mut self.metrics),
            Backend::Fixed(f) => f.abort(id, &mut self.metrics),
        }
    }

    /// Virtual time of the next event, `None` when idle with nothing pending.
    pub fn next_event_ns(&self) -> Option<u64> {
        match &self.backend {
            Backend::Steps(c) => c.next_event_ns(),
            Backend::Fixed(f) => f.next_event_ns(),
        }
    }

    /// Process every event up to `now_ns`, appending the tokens that became ready (each
    /// stamped with the virtual time it leaves the server, possibly after `now_ns`).
    pub fn advance_to(&mut self, now_ns: u64, out: &mut Vec<Emission>) {
        match &mut self.backend {
            Backend::Steps(c) => c.advance_to(now_ns, out, &mut self.metrics),
            Backend::Fixed(f) => f.advance_to(now_ns, out, &mut self.metrics),
        }
    }

    /// `POST /reset_prefix_cache`: empty the prefix cache and count the reset.
    pub fn reset_prefix_cache(&mut self) -> bool {
        let done = match &mut self.backend {
            Backend::Steps(c) => c.reset_prefix_cache(),
            Backend::Fixed(_) => true,
        };
        if done {
            self.metrics.prefix_cache_resets += 1;
        }
        done
    }

    /// Count a `POST /reset_mm_cache` (the simulated model has no multimodal cache).
    pub fn reset_mm_cache(&mut self) {
        self.metrics.mm_cache_resets += 1;
    }

    /// Count a `POST /reset_encoder_cache` (the simulated model has no encoder cache).
    pub fn reset_encoder_cache(&mut self) {
        self.metrics.encoder_cache_resets += 1;
    }

    /// Running, waiting and KV usage now.
    pub fn gauges(&self) -> Gauges {
        match &self.backend {
            Backend::Steps(c) => c.gauges(),
            Backend::Fixed(f) => f.gauges(),
        }
    }

    /// Counters and histograms so far.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// `/metrics` text for a model served as `model_name`.
    pub fn render_metrics(&self, model_name: &str) -> String {
        self.metrics
            .render(model_name, &self.gauges(), &self.cache_info)
    }

    /// Record every engine step from now on (roofline profiles).
    pub fn record_steps(&mut self) {
        if let Backend::Steps(c) = &mut self.backend {
            c.record_steps();
        }
    }

    /// Steps recorded so far, by start time.
    pub fn step_log(&self) -> Vec<StepRecord> {
        match &self.backend {
            Backend::Steps(c) => c.step_log(),
            Backend::Fixed(_) => Vec::new(),
        }
    }

    /// The engine.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }
}
