//! One replica of the step-level engine: vLLM V1's `Scheduler.schedule()` run as a
//! discrete-event simulation (sim-model.md §2.2, §2.4, §2.7, §2.8).
//!
//! Each step: running requests in order take their tokens from the budget (decodes first
//! in practice, then in-flight prefill chunks), preempting the last running request by
//! recompute when blocks run out; then, only if nothing was preempted, waiting requests are
//! admitted while budget, `max_num_seqs` and blocks allow, with prefix-cache hits. The step
//! lasts the roofline time of what it computes; at its end every request whose context is
//! fully computed emits one token.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

use crate::engine::block_pool::{BlockId, BlockPool};
use crate::engine::{
    Emission, FinishReason, Gauges, NewRequest, RequestId, StepRecord, ns_to_secs, secs_to_ns,
};
use crate::hashing::{SeededRng, chain_block_hash};
use crate::metrics::{FinishedTimes, Metrics};
use crate::step_time::{BatchShape, StepCoefficients};
use crate::text::OutputIds;

/// Scheduler limits (vLLM's `SchedulerConfig` and `CacheConfig`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SchedulerConfig {
    /// `--max-num-seqs`.
    pub max_num_seqs: u32,
    /// `--max-num-batched-tokens`: the token budget of one step.
    pub max_num_batched_tokens: u32,
    /// `--max-model-len`.
    pub max_model_len: u32,
    /// `--block-size`.
    pub block_size: u32,
    /// KV blocks of this replica.
    pub num_blocks: u32,
    /// `--long-prefill-token-threshold` (0 = off).
    pub long_prefill_token_threshold: u32,
    /// `--enable-prefix-caching`.
    pub enable_prefix_caching: bool,
    /// Steps a request that arrives while the engine is busy waits before it can be
    /// scheduled: 1 models V1's async scheduling (step k+1 is planned while k runs).
    pub admission_lag_steps: u32,
}

/// Everything a replica needs besides its requests.
#[derive(Debug, Clone)]
pub struct StepEngineConfig {
    /// Scheduler limits.
    pub scheduler: SchedulerConfig,
    /// Step-time coefficients.
    pub coefficients: StepCoefficients,
    /// a0: fixed ingress delay, ns.
    pub ingress_base_ns: u64,
    /// a1: ingress delay per prompt token, ns.
    pub ingress_per_token_ns: f64,
    /// t_out: step end → tokens leave the server, ns.
    pub emit_delay_ns: u64,
    /// σ of the multiplicative log-normal step jitter (0 = off).
    pub jitter_sigma: f64,
    /// Seed of the jitter stream.
    pub jitter_seed: u64,
    /// Generated token ids (for hashing blocks that hold generated tokens).
    pub output_ids: OutputIds,
}

#[derive(Debug, Clone)]
struct Req {
    id: RequestId,
    seq: u64,
    arrival_ns: u64,
    ready_ns: u64,
    prompt_len: u32,
    output_len: u32,
    finish: FinishReason,
    /// Chained hashes of the full blocks known so far (prompt, then generated).
    hashes: Vec<u64>,
    prompt_tail: Vec<u32>,
    text_key: u64,
    num_computed: u32,
    generated: u32,
    /// How many of `blocks` are registered in the prefix cache.
    registered: usize,
    blocks: Vec<BlockId>,
    cached_tokens: u32,
    admitted: bool,
    first_scheduled_ns: u64,
    first_token_ns: u64,
    last_token_ns: u64,
}

impl Req {
    fn context(&self) -> u32 {
        self.prompt_len + self.generated
    }
}

#[derive(Debug, Clone)]
struct Step {
    start_ns: u64,
    end_ns: u64,
    /// (slot, request seq, tokens scheduled).
    items: Vec<(u32, u64, u32)>,
}

/// One data-parallel replica.
#[derive(Debug, Clone)]
pub struct StepEngine {
    cfg: StepEngineConfig,
    replica: u32,
    pool: BlockPool,
    slots: Vec<Option<Req>>,
    free_slots: Vec<u32>,
    by_id: HashMap<RequestId, u32>,
    /// Requests still in ingress, by (ready time, submission order).
    pending: BinaryHeap<Reverse<(u64, u64, u32)>>,
    waiting: VecDeque<u32>,
    running: Vec<u32>,
    step: Option<Step>,
    /// Virtual time of the last processed event.
    clock_ns: u64,
    next_seq: u64,
    rng: SeededRng,
    step_log: Option<Vec<StepRecord>>,
}

impl StepEngine {
    /// An idle replica with an empty cache.
    pub fn new(cfg: StepEngineConfig, replica: u32) -> Self {
        let pool = BlockPool::new(
            cfg.scheduler.num_blocks,
            cfg.scheduler.enable_prefix_caching,
        );
        let rng = SeededRng::new(cfg.jitter_seed ^ u64::from(replica));
        Self {
            cfg,
            replica,
            pool,
            slots: Vec::new(),
            free_slots: Vec::new(),
            by_id: HashMap::new(),
            pending: BinaryHeap::new(),
            waiting: VecDeque::new(),
            running: Vec::new(),
            step: None,
            clock_ns: 0,
            next_seq: 0,
            rng,
            step_log: None,
        }
    }

    /// Keep a [`StepRecord`] of every step from now on.
    pub fn record_steps(&mut self) {
        self.step_log.get_or_insert_with(Vec::new);
    }

    /// Steps recorded so far (empty unless [`Self::record_steps`] was called).
    pub fn step_log(&self) -> &[StepRecord] {
        self.step_log.as_deref().unwrap_or_default()
    }

    /// Running, waiting and KV usage now.
    pub fn gauges(&self) -> Gauges {
        Gauges {
            running: self.running.len() as u64,
            waiting: (self.by_id.len() - self.running.len()) as u64,
            kv_usage: self.pool.usage(),
        }
    }

    /// (waiting incl. ingress, running), for data-parallel routing.
    pub fn queue_lengths(&self) -> (usize, usize) {
        (self.by_id.len() - self.running.len(), self.running.len())
    }

    /// Accept a request; it becomes schedulable after the ingress delay. Its
    /// `block_hashes` must hold one hash per full prompt block ([`super::prompt_blocks`]).
    pub fn submit(&mut self, r: NewRequest) {
        debug_assert_eq!(
            r.block_hashes.len() as u32,
            r.prompt_len / self.cfg.scheduler.block_size
        );
        let ingress = self.cfg.ingress_base_ns
            + (self.cfg.ingress_per_token_ns * f64::from(r.prompt_len)).round() as u64;
        let seq = self.next_seq;
        self.next_seq += 1;
        let req = Req {
            id: r.id,
            seq,
            arrival_ns: r.arrival_ns,
            ready_ns: r.arrival_ns + ingress,
            prompt_len: r.prompt_len,
            output_len: r.output_len.max(1),
            finish: r.finish,
            hashes: r.block_hashes,
            prompt_tail: r.prompt_tail,
            text_key: r.text_key,
            num_computed: 0,
            generated: 0,
            registered: 0,
            blocks: Vec::new(),
            cached_tokens: 0,
            admitted: false,
            first_scheduled_ns: 0,
            first_token_ns: 0,
            last_token_ns: 0,
        };
        let ready = req.ready_ns;
        let slot = match self.free_slots.pop() {
            Some(s) => {
                self.slots[s as usize] = Some(req);
                s
            }
            None => {
                self.slots.push(Some(req));
                (self.slots.len() - 1) as u32
            }
        };
        self.by_id.insert(r.id, slot);
        self.pending.push(Reverse((ready, seq, slot)));
    }

    /// Drop a request the client abandoned, freeing its blocks. Returns whether it was here.
    pub fn abort(&mut self, id: RequestId, metrics: &mut Metrics) -> bool {
        let Some(slot) = self.by_id.remove(&id) else {
            return false;
        };
        // Pending heap entries and step items are skipped lazily by their seq.
        self.waiting.retain(|&s| s != slot);
        self.running.retain(|&s| s != slot);
        if let Some(req) = self.slots[slot as usize].take() {
            self.pool.free(&req.blocks);
        }
        self.free_slots.push(slot);
        metrics.finished(FinishReason::Abort, None);
        true
    }

    /// Empty the prefix cache (`POST /reset_prefix_cache`). As vLLM's KV-cache manager, it
    /// refuses (returns `false`, changing nothing) while a request holds blocks.
    pub fn reset_prefix_cache(&mut self) -> bool {
        if self.slots.iter().flatten().any(|r| !r.blocks.is_empty()) {
            return false;
        }
        self.pool.reset_prefix_cache();
        true
    }

    /// Virtual time of the next event: the current step's end, or when an idle replica
    /// will start its next step. `None` when it has nothing to do.
    pub fn next_event_ns(&self) -> Option<u64> {
        match &self.step {
            Some(step) => Some(step.end_ns),
            None => self.idle_start_ns(),
        }
    }

    fn idle_start_ns(&self) -> Option<u64> {
        if !self.waiting.is_empty() {
            return Some(self.clock_ns);
        }
        self.pending_head().map(|ready| ready.max(self.clock_ns))
    }

    fn pending_head(&self) -> Option<u64> {
        self.pending.peek().map(|Reverse((ready, _, _))| *ready)
    }

    /// Process every event up to `now_ns`, appending the tokens that became ready.
    pub fn advance_to(&mut self, now_ns: u64, out: &mut Vec<Emission>, metrics: &mut Metrics) {
        // Set when an idle start produced no step, so a second one in a row stops the loop.
        let mut stalled = false;
        loop {
            match &self.step {
                Some(step) if step.end_ns <= now_ns => {
                    let step = self.step.take().unwrap_or_else(|| unreachable!());
                    self.clock_ns = step.end_ns;
                    self.complete(&step, out, metrics);
                    self.start_step(step.end_ns, Some(step.start_ns), metrics);
                    stalled = false;
                }
                Some(_) => break,
                None => match self.idle_start_ns() {
                    Some(t) if t <= now_ns && !stalled => {
                        self.clock_ns = t;
                        self.start_step(t, None, metrics);
                        // Nothing scheduled: stale ingress entries of aborted requests, or
                        // a step that only preempted. Look once more, then stop.
                        stalled = self.step.is_none();
                    }
                    _ => break,
                },
            }
        }
        self.clock_ns = self.clock_ns.max(now_ns);
    }

    fn start_step(&mut self, start_ns: u64, previous_start: Option<u64>, metrics: &mut Metrics) {
        let cutoff = match previous_start {
            Some(prev) if self.cfg.scheduler.admission_lag_steps > 0 => prev,
            _ => start_ns,
        };
        self.take_ready(cutoff);
        let mut shape = BatchShape::default();
        let mut decodes = 0;
        let (items, preempted) = self.schedule(start_ns, metrics);
        if items.is_empty() {
            return;
        }
        for &(slot, _, n) in &items {
            let req = self.slot(slot);
            let total = req.context();
            if n == 1 && req.generated > 0 && req.num_computed + 1 == total {
                shape.add_decode(u64::from(total));
                decodes += 1;
            } else {
                shape.add_prefill(u64::from(req.num_computed), u64::from(n));
            }
        }
        let mut secs = self.cfg.coefficients.step_seconds(&shape);
        if self.cfg.jitter_sigma > 0.0 {
            let s = self.cfg.jitter_sigma;
            secs *= (s * self.rng.next_normal() - s * s / 2.0).exp();
        }
        let end_ns = start_ns + secs_to_ns(secs).max(1);
        metrics.steps += 1;
        if let Some(log) = &mut self.step_log {
            log.push(StepRecord {
                replica: self.replica,
                start_ns,
                end_ns,
                tokens: shape.tokens as u32,
                seqs: shape.seqs as u32,
                decodes,
                running: self.running.len() as u32,
                waiting: (self.by_id.len() - self.running.len()) as u32,
                preempted,
                kv_usage: self.pool.usage(),
            });
        }
        self.step = Some(Step {
            start_ns,
            end_ns,
            items,
        });
    }

    /// Move requests whose ingress ended by `cutoff` to the back of `waiting`.
    fn take_ready(&mut self, cutoff: u64) {
        while let Some(&Reverse((ready, seq, slot))) = self.pending.peek() {
            if ready > cutoff {
                break;
            }
            self.pending.pop();
            let live = self.slots[slot as usize]
                .as_ref()
                .is_some_and(|r| r.seq == seq);
            if live {
                self.waiting.push_back(slot);
            }
        }
    }

    fn slot(&self, slot: u32) -> &Req {
        self.slots[slot as usize]
            .as_ref()
            .unwrap_or_else(|| unreachable!("slot {slot} is empty"))
    }

    fn slot_mut(&mut self, slot: u32) -> &mut Req {
        self.slots[slot as usize]
            .as_mut()
            .unwrap_or_else(|| unreachable!("slot {slot} is empty"))
    }

    fn blocks_for(&self, tokens: u32) -> usize {
        tokens.div_ceil(self.cfg.scheduler.block_size) as usize
    }

    /// Build one step's batch. Returns the items and whether anything was preempted.
    fn schedule(&mut self, now_ns: u64, metrics: &mut Metrics) -> (Vec<(u32, u64, u32)>, bool) {
        let sched = self.cfg.scheduler;
        let mut budget = sched.max_num_batched_tokens;
        let mut items = Vec::with_capacity(self.running.len() + 4);
        let mut preempted = false;
        let cap = |want: u32, budget: u32| {
            let want = if sched.long_prefill_token_threshold > 0 {
                want.min(sched.long_prefill_token_threshold)
            } else {
                want
            };
            want.min(budget)
        };

        // 1. Running requests, in order.
        let mut i = 0;
        while i < self.running.len() && budget > 0 {
            let slot = self.running[i];
            let req = self.slot(slot);
            let want = cap(req.context() - req.num_computed, budget);
            let need = self.blocks_for(req.num_computed + want);
            let mut scheduled = true;
            loop {
                let req = self.slots[slot as usize]
                    .as_mut()
                    .unwrap_or_else(|| unreachable!());
                let missing = need.saturating_sub(req.blocks.len()) as u32;
                if missing == 0 || self.pool.allocate(missing, &mut req.blocks) {
                    break;
                }
                let victim = self.running.pop().unwrap_or_else(|| unreachable!());
                self.preempt(victim, metrics);
                preempted = true;
                if victim == slot {
                    scheduled = false;
                    break;
                }
            }
            if !scheduled {
                break;
            }
            let seq = self.slot(slot).seq;
            items.push((slot, seq, want));
            budget -= want;
            i += 1;
        }

        // 2. Waiting requests, only if nothing was preempted.
        if !preempted {
            while budget > 0 && (self.running.len() as u32) < sched.max_num_seqs {
                let Some(&slot) = self.waiting.front() else {
                    break;
                };
                // A waiting request holds no blocks and has computed nothing (new, or
                // preempted by recompute).
                let req = self.slot(slot);
                let total = req.context();
                let max_hit = ((total - 1) / sched.block_size) as usize;
                let hit_blocks = self
                    .pool
                    .cached_prefix(&req.hashes[..req.hashes.len().min(max_hit)]);
                let hit = hit_blocks.len() as u32 * sched.block_size;
                let want = cap(total - hit, budget);
                let need = (self.blocks_for(hit + want) - hit_blocks.len()) as u32;
                if self.pool.num_free() < need + self.pool.count_free(&hit_blocks) {
                    break; // head-of-line blocking: no preemption for new requests
                }
                self.pool.acquire(&hit_blocks);
                let req = self.slots[slot as usize]
                    .as_mut()
                    .unwrap_or_else(|| unreachable!());
                req.registered = hit_blocks.len();
                req.blocks = hit_blocks;
                req.num_computed = hit;
                let allocated = self.pool.allocate(need, &mut req.blocks);
                debug_assert!(allocated, "free blocks were checked");
                if !req.admitted {
                    req.admitted = true;
                    req.cached_tokens = hit;
                    req.first_scheduled_ns = now_ns;
                    metrics.prefix_queries += u64::from(req.prompt_len);
                    metrics.prefix_hits += u64::from(hit);
                }
                let seq = req.seq;
                self.waiting.pop_front();
                self.running.push(slot);
                items.push((slot, seq, want));
                budget -= want;
            }
        }
        (items, preempted)
    }

    /// Recompute preemption: free the blocks, forget the computed tokens, requeue first.
    fn preempt(&mut self, slot: u32, metrics: &mut Metrics) {
        let req = self.slots[slot as usize]
            .as_mut()
            .unwrap_or_else(|| unreachable!());
        let blocks = std::mem::take(&mut req.blocks);
        req.num_computed = 0;
        req.registered = 0;
        self.pool.free(&blocks);
        self.waiting.push_front(slot);
        metrics.preemptions += 1;
    }

    fn complete(&mut self, step: &Step, out: &mut Vec<Emission>, metrics: &mut Metrics) {
        let emit_ns = step.end_ns + self.cfg.emit_delay_ns;
        let max_model_len = self.cfg.scheduler.max_model_len;
        let mut any_finished = false;
        for &(slot, seq, n) in &step.items {
            let live = self.slots[slot as usize]
                .as_ref()
                .is_some_and(|r| r.seq == seq);
            if !live {
                continue; // aborted while the step ran
            }
            self.slot_mut(slot).num_computed += n;
            self.register_full_blocks(slot);
            let req = self.slot_mut(slot);
            if req.num_computed != req.context() {
                continue; // a prefill chunk that does not finish the prompt
            }
            req.generated += 1;
            let done = req.generated >= req.output_len || req.context() >= max_model_len;
            if req.generated == 1 {
                req.first_token_ns = emit_ns;
                metrics.first_token(req.prompt_len, ns_to_secs(emit_ns - req.arrival_ns));
            } else {
                metrics.next_tokens(1, ns_to_secs(emit_ns - req.last_token_ns));
            }
            req.last_token_ns = emit_ns;
            let reason = if req.generated >= req.output_len {
                req.finish
            } else {
                FinishReason::Length // max_model_len reached
            };
            let finish = done.then_some(reason);
            out.push(Emission {
                id: req.id,
                time_ns: emit_ns,
                generated: req.generated,
                finish,
                cached_tokens: req.cached_tokens,
            });
            if let Some(reason) = finish {
                metrics.finished(
                    reason,
                    Some(FinishedTimes {
                        e2e: ns_to_secs(emit_ns - req.arrival_ns),
                        queue: ns_to_secs(req.first_scheduled_ns.saturating_sub(req.ready_ns)),
                        prefill: ns_to_secs(req.first_token_ns - req.first_scheduled_ns),
                        decode: ns_to_secs(emit_ns - req.first_token_ns),
                        prompt_tokens: req.prompt_len,
                        generated: req.generated,
                    }),
                );
                any_finished = true;
            }
        }
        if any_finished {
            self.release_finished();
        }
    }

    fn release_finished(&mut self) {
        let mut kept = Vec::with_capacity(self.running.len());
        for &slot in &self.running {
            let req = self.slots[slot as usize]
                .as_ref()
                .unwrap_or_else(|| unreachable!());
            let finished = req.generated >= req.output_len
                || req.context() >= self.cfg.scheduler.max_model_len;
            if !finished {
                kept.push(slot);
                continue;
            }
            if let Some(req) = self.slots[slot as usize].take() {
                self.pool.free(&req.blocks);
                self.by_id.remove(&req.id);
            }
            self.free_slots.push(slot);
        }
        self.running = kept;
    }

    /// Register the request's newly full blocks in the prefix cache, hashing blocks that
    /// hold generated tokens as they fill.
    fn register_full_blocks(&mut self, slot: u32) {
        if !self.pool.caching() {
            return;
        }
        let bs = self.cfg.scheduler.block_size;
        let req = self.slots[slot as usize]
            .as_mut()
            .unwrap_or_else(|| unreachable!());
        let full = (req.num_computed / bs) as usize;
        while req.hashes.len() < full {
            let j = req.hashes.len() as u32;
            let prev = req.hashes.last().copied().unwrap_or(0);
            let tail_start = req.prompt_len / bs * bs;
            let tokens: Vec<u32> = (j * bs..(j + 1) * bs)
                .map(|pos| {
                    if pos < req.prompt_len {
                        req.prompt_tail[(pos - tail_start) as usize]
                    } else {
                        self.cfg.output_ids.id(req.text_key, pos - req.prompt_len)
                    }
                })
                .collect();
            req.hashes.push(chain_block_hash(prev, &tokens));
        }
        for j in req.registered..full.min(req.blocks.len()) {
            self.pool.register(req.blocks[j], req.hashes[j]);
        }
        req.registered = req.registered.max(full.min(req.blocks.len()));
    }
}
