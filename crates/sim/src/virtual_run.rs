//! Virtual-time runs: a workload fed straight into a [`Simulator`], with no sockets and no
//! sleeping (sim-model.md §4, mode 3). An hour of serving simulates in seconds of CPU, and
//! the same inputs always give the same timestamps, so the behaviours of sim-model.md §3
//! are ordinary tests.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use crate::config::SimConfig;
use crate::engine::{Emission, FinishReason, NewRequest, StepRecord, prompt_blocks, secs_to_ns};
use crate::hashing::{SeededRng, mix};
use crate::sim::Simulator;
use crate::text::text_key;

/// One request of a workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkItem {
    /// Prompt token ids.
    pub prompt: Vec<u32>,
    /// Tokens to generate (as with `max_tokens` and `ignore_eos`).
    pub output_len: u32,
}

impl WorkItem {
    /// A prompt of `len` pseudo-random tokens drawn from `seed` (ids below 100 000).
    pub fn random(seed: u64, len: u32, output_len: u32) -> Self {
        Self {
            prompt: random_tokens(seed, len),
            output_len,
        }
    }

    /// A prompt whose first `shared` tokens come from `prefix_seed` (shared with every
    /// item built from the same `prefix_seed`) and the rest from `seed`.
    pub fn with_prefix(
        prefix_seed: u64,
        shared: u32,
        seed: u64,
        len: u32,
        output_len: u32,
    ) -> Self {
        let mut prompt = random_tokens(prefix_seed, shared.min(len));
        prompt.extend(random_tokens(mix(seed, 0x5EED), len.saturating_sub(shared)));
        Self { prompt, output_len }
    }
}

fn random_tokens(seed: u64, len: u32) -> Vec<u32> {
    let mut rng = SeededRng::new(seed);
    (0..len)
        .map(|_| (rng.next_u64() % 100_000) as u32)
        .collect()
}

/// When requests arrive.
#[derive(Debug, Clone, PartialEq)]
pub enum Arrivals {
    /// `concurrency` clients, client `i` starting at `i·stagger_ns`; each sends its next
    /// request `think_ns` after its previous one finished.
    ClosedLoop {
        /// Number of clients.
        concurrency: usize,
        /// Offset between the clients' first requests.
        stagger_ns: u64,
        /// Pause between a response's end and the client's next request reaching the server.
        think_ns: u64,
    },
    /// A Poisson process (exponential gaps), seeded.
    Poisson {
        /// Mean requests per second.
        rate_per_s: f64,
        /// Seed of the gaps.
        seed: u64,
    },
    /// Explicit arrival times, one per item, virtual ns.
    At(Vec<u64>),
}

impl Arrivals {
    /// Closed loop with every client starting at once and no pause between requests.
    pub fn closed_loop(concurrency: usize) -> Self {
        Self::ClosedLoop {
            concurrency,
            stagger_ns: 0,
            think_ns: 0,
        }
    }
}

/// What happened to one request, in virtual ns.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRecord {
    /// Index of the item in the workload.
    pub index: usize,
    /// When it was sent.
    pub arrival_ns: u64,
    /// When each batch of tokens left the server, with the running token count.
    pub emissions: Vec<(u64, u32)>,
    /// Prompt tokens.
    pub prompt_len: u32,
    /// Prompt tokens served from the prefix cache.
    pub cached_tokens: u32,
    /// Set once finished.
    pub finish: Option<FinishReason>,
}

impl RequestRecord {
    /// Time to first token, s.
    pub fn ttft_s(&self) -> Option<f64> {
        self.emissions
            .first()
            .map(|&(t, _)| (t - self.arrival_ns) as f64 / 1e9)
    }

    /// Arrival → last token, s.
    pub fn e2e_s(&self) -> Option<f64> {
        self.emissions
            .last()
            .map(|&(t, _)| (t - self.arrival_ns) as f64 / 1e9)
    }

    /// Tokens generated.
    pub fn output_tokens(&self) -> u32 {
        self.emissions.last().map_or(0, |&(_, n)| n)
    }

    /// `(E2E − TTFT) / (out − 1)`, as `vllm bench serve` computes TPOT, s.
    pub fn tpot_s(&self) -> Option<f64> {
        let out = self.output_tokens();
        if out < 2 {
            return None;
        }
        Some((self.e2e_s()? - self.ttft_s()?) / f64::from(out - 1))
    }

    /// Gaps between successive emissions, s.
    pub fn itls_s(&self) -> impl Iterator<Item = f64> + '_ {
        self.emissions
            .windows(2)
            .map(|w| (w[1].0 - w[0].0) as f64 / 1e9)
    }
}

/// Options of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunOptions {
    /// Stop at this virtual time even if requests remain (overload tests).
    pub stop_at_ns: Option<u64>,
    /// Keep a record of every engine step.
    pub record_steps: bool,
}

/// The outcome of a run.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// One record per request sent, in workload order.
    pub requests: Vec<RequestRecord>,
    /// Virtual time when the run ended.
    pub end_ns: u64,
    /// Every step, when asked for.
    pub steps: Vec<StepRecord>,
    /// The simulator at the end (metrics, gauges).
    pub sim: Simulator,
}

impl RunReport {
    /// Finished requests.
    pub fn finished(&self) -> impl Iterator<Item = &RequestRecord> {
        self.requests.iter().filter(|r| r.finish.is_some())
    }

    /// Tokens that left the server in `[from_ns, to_ns)`, per second.
    pub fn output_rate(&self, from_ns: u64, to_ns: u64) -> f64 {
        let mut tokens = 0u64;
        for r in &self.requests {
            let mut prev = 0;
            for &(t, n) in &r.emissions {
                if (from_ns..to_ns).contains(&t) {
                    tokens += u64::from(n - prev);
                }
                prev = n;
            }
        }
        tokens as f64 / ((to_ns - from_ns) as f64 / 1e9)
    }

    /// Mean of `f` over finished requests whose arrival is in `[from_ns, to_ns)`.
    pub fn mean_over(
        &self,
        from_ns: u64,
        to_ns: u64,
        f: impl Fn(&RequestRecord) -> Option<f64>,
    ) -> f64 {
        let xs: Vec<f64> = self
            .finished()
            .filter(|r| (from_ns..to_ns).contains(&r.arrival_ns))
            .filter_map(f)
            .collect();
        xs.iter().sum::<f64>() / xs.len().max(1) as f64
    }
}

/// The `q`-quantile (0..=1) of `values` with numpy's linear interpolation; 0 when empty.
pub fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = q * (v.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (rank - lo as f64)
}

/// Run `items` through a fresh simulator built from `config`.
pub fn run(
    config: &SimConfig,
    items: &[WorkItem],
    arrivals: &Arrivals,
    opts: &RunOptions,
) -> RunReport {
    let mut sim = config.build();
    if opts.record_steps {
        sim.record_steps();
    }
    let block_size = config.scheduler.block_size;
    let seed = config.seed;
    // Future submissions: (time, item index).
    let mut queue: BinaryHeap<Reverse<(u64, usize)>> = BinaryHeap::new();
    let mut next_item = 0;
    match arrivals {
        Arrivals::ClosedLoop {
            concurrency,
            stagger_ns,
            ..
        } => {
            while next_item < (*concurrency).min(items.len()) {
                queue.push(Reverse((next_item as u64 * stagger_ns, next_item)));
                next_item += 1;
            }
        }
        Arrivals::Poisson { rate_per_s, seed } => {
            let mut rng = SeededRng::new(*seed);
            let mut t = 0.0;
            for i in 0..items.len() {
                t += -(1.0 - rng.next_f64()).ln() / rate_per_s;
                queue.push(Reverse((secs_to_ns(t), i)));
            }
            next_item = items.len();
        }
        Arrivals::At(times) => {
            for (i, &t) in times.iter().enumerate().take(items.len()) {
                queue.push(Reverse((t, i)));
            }
            next_item = items.len();
        }
    }
    let think_ns = match arrivals {
        Arrivals::ClosedLoop { think_ns, .. } => Some(*think_ns),
        _ => None,
    };
    let mut records: Vec<RequestRecord> = Vec::with_capacity(items.len());
    let mut record_of: HashMap<u64, usize> = HashMap::new();
    let mut out: Vec<Emission> = Vec::new();
    let mut now = 0;
    loop {
        let arrival = queue.peek().map(|Reverse((t, _))| *t);
        let event = sim.next_event_ns();
        let t = match (arrival, event) {
            (None, None) => break,
            (Some(a), Some(e)) => a.min(e),
            (Some(a), None) => a,
            (None, Some(e)) => e,
        };
        if opts.stop_at_ns.is_some_and(|stop| t > stop) {
            break;
        }
        now = t;
        sim.advance_to(t, &mut out);
        for e in out.drain(..) {
            let Some(&ri) = record_of.get(&e.id) else {
                continue;
            };
            let r = &mut records[ri];
            r.emissions.push((e.time_ns, e.generated));
            r.cached_tokens = e.cached_tokens;
            if let Some(reason) = e.finish {
                r.finish = Some(reason);
                if let Some(think) = think_ns.filter(|_| next_item < items.len()) {
                    queue.push(Reverse((e.time_ns + think, next_item)));
                    next_item += 1;
                }
            }
        }
        while let Some(&Reverse((ta, index))) = queue.peek() {
            if ta > t {
                break;
            }
            queue.pop();
            let item = &items[index];
            let id = records.len() as u64;
            let (block_hashes, prompt_tail) = prompt_blocks(&item.prompt, block_size);
            sim.submit(NewRequest {
                id,
                arrival_ns: ta,
                prompt_len: item.prompt.len() as u32,
                block_hashes,
                prompt_tail,
                text_key: text_key(seed, &item.prompt),
                output_len: item.output_len,
                finish: FinishReason::Length,
            });
            record_of.insert(id, records.len());
            records.push(RequestRecord {
                index,
                arrival_ns: ta,
                emissions: Vec::new(),
                prompt_len: item.prompt.len() as u32,
                cached_tokens: 0,
                finish: None,
            });
        }
    }
    records.sort_by_key(|r| r.index);
    RunReport {
        requests: records,
        end_ns: now,
        steps: sim.step_log(),
        sim,
    }
}
