//! Data parallelism: several independent replicas behind one front end. A new request goes
//! to the replica with the lowest `4·waiting + running` (ties to the lowest index), the
//! score vLLM's data-parallel load balancer uses.

use std::collections::HashMap;

use crate::engine::step::{StepEngine, StepEngineConfig};
use crate::engine::{Emission, Gauges, NewRequest, RequestId, StepRecord};
use crate::metrics::Metrics;

/// `--data-parallel-size` replicas of the step engine.
#[derive(Debug, Clone)]
pub struct Cluster {
    replicas: Vec<StepEngine>,
    owner: HashMap<RequestId, u32>,
}

impl Cluster {
    /// `dp` identical idle replicas (at least one).
    pub fn new(cfg: &StepEngineConfig, dp: u32) -> Self {
        Self {
            replicas: (0..dp.max(1))
                .map(|i| StepEngine::new(cfg.clone(), i))
                .collect(),
            owner: HashMap::new(),
        }
    }

    /// The replicas.
    pub fn replicas(&self) -> &[StepEngine] {
        &self.replicas
    }

    /// Route a request to the least loaded replica.
    pub fn submit(&mut self, r: NewRequest) {
        let (index, _) = self
            .replicas
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let (waiting, running) = e.queue_lengths();
                (i, 4 * waiting + running)
            })
            .min_by_key(|&(i, score)| (score, i))
            .unwrap_or((0, 0));
        self.owner.insert(r.id, index as u32);
        self.replicas[index].submit(r);
    }

    /// Drop an abandoned request. Returns whether it was live.
    pub fn abort(&mut self, id: RequestId, metrics: &mut Metrics) -> bool {
        match self.owner.remove(&id) {
            Some(i) => self.replicas[i as usize].abort(id, metrics),
            None => false,
        }
    }

    /// Earliest next event over all replicas.
    pub fn next_event_ns(&self) -> Option<u64> {
        self.replicas
            .iter()
            .filter_map(StepEngine::next_event_ns)
            .min()
    }

    /// Advance every replica to `now_ns`.
    pub fn advance_to(&mut self, now_ns: u64, out: &mut Vec<Emission>, metrics: &mut Metrics) {
        let first_new = out.len();
        for replica in &mut self.replicas {
            replica.advance_to(now_ns, out, metrics);
        }
        for e in &out[first_new..] {
            if e.finish.is_some() {
                self.owner.remove(&e.id);
            }
        }
    }

    /// Summed running and waiting; mean KV usage.
    pub fn gauges(&self) -> Gauges {
        let mut g = Gauges::default();
        for r in &self.replicas {
            let x = r.gauges();
            g.running += x.running;
            g.waiting += x.waiting;
            g.kv_usage += x.kv_usage;
        }
        g.kv_usage /= self.replicas.len() as f64;
        g
    }

    /// Empty every replica's prefix cache; `false` if a replica refused (it has running
    /// requests), as vLLM's front end reports the engines together.
    pub fn reset_prefix_cache(&mut self) -> bool {
        let mut all = true;
        for r in &mut self.replicas {
            all &= r.reset_prefix_cache();
        }
        all
    }

    /// Record every step of every replica from now on.
    pub fn record_steps(&mut self) {
        for r in &mut self.replicas {
            r.record_steps();
        }
    }

    /// All recorded steps, ordered by start time then replica.
    pub fn step_log(&self) -> Vec<StepRecord> {
        let mut all: Vec<StepRecord> = self
            .replicas
            .iter()
            .flat_map(|r| r.step_log().iter().copied())
            .collect();
        all.sort_by_key(|s| (s.start_ns, s.replica));
        all
    }
}
