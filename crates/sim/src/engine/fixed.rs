//! The timing-only engine behind the `fixed` and `instant` profiles: every request gets
//! its first token `ttft` after it arrives and one more every `itl`, whatever the load.
//! With `itl = 0` (the `instant` profile) all remaining tokens are ready at once.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use crate::engine::{Emission, FinishReason, Gauges, NewRequest, RequestId, ns_to_secs};
use crate::metrics::{FinishedTimes, Metrics};

#[derive(Debug, Clone)]
struct Stream {
    seq: u64,
    arrival_ns: u64,
    prompt_len: u32,
    output_len: u32,
    finish: FinishReason,
    generated: u32,
    first_token_ns: u64,
    last_token_ns: u64,
}

/// Constant-latency engine.
#[derive(Debug, Clone)]
pub struct FixedEngine {
    ttft_ns: u64,
    itl_ns: u64,
    streams: HashMap<RequestId, Stream>,
    /// Next token time of each stream: (time, submission order, id).
    due: BinaryHeap<Reverse<(u64, u64, RequestId)>>,
    next_seq: u64,
}

impl FixedEngine {
    /// An engine with the given time to first token and inter-token time.
    pub fn new(ttft_ns: u64, itl_ns: u64) -> Self {
        Self {
            ttft_ns,
            itl_ns,
            streams: HashMap::new(),
            due: BinaryHeap::new(),
            next_seq: 0,
        }
    }

    /// Accept a request.
    pub fn submit(&mut self, r: NewRequest) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.due
            .push(Reverse((r.arrival_ns + self.ttft_ns, seq, r.id)));
        self.streams.insert(
            r.id,
            Stream {
                seq,
                arrival_ns: r.arrival_ns,
                prompt_len: r.prompt_len,
                output_len: r.output_len.max(1),
                finish: r.finish,
                generated: 0,
                first_token_ns: 0,
                last_token_ns: 0,
            },
        );
    }

    /// Drop a request the client abandoned. Returns whether it was here.
    pub fn abort(&mut self, id: RequestId, metrics: &mut Metrics) -> bool {
        let found = self.streams.remove(&id).is_some();
        if found {
            metrics.finished(FinishReason::Abort, None);
        }
        found
    }

    /// Every stream is running; nothing waits; there is no KV cache.
    pub fn gauges(&self) -> Gauges {
        Gauges {
            running: self.streams.len() as u64,
            waiting: 0,
            kv_usage: 0.0,
        }
    }

    /// Time of the next token, if any stream is live.
    pub fn next_event_ns(&self) -> Option<u64> {
        self.due.peek().map(|Reverse((t, _, _))| *t)
    }

    /// Emit every token due by `now_ns`.
    pub fn advance_to(&mut self, now_ns: u64, out: &mut Vec<Emission>, metrics: &mut Metrics) {
        while let Some(&Reverse((t, seq, id))) = self.due.peek() {
            if t > now_ns {
                break;
            }
            self.due.pop();
            let Some(s) = self.streams.get_mut(&id).filter(|s| s.seq == seq) else {
                continue; // aborted
            };
            let n = if self.itl_ns == 0 {
                s.output_len - s.generated
            } else {
                1
            };
            if s.generated == 0 {
                s.first_token_ns = t;
                metrics.first_token(s.prompt_len, ns_to_secs(t - s.arrival_ns));
                if n > 1 {
                    metrics.next_tokens(n - 1, 0.0);
                }
            } else {
                metrics.next_tokens(n, ns_to_secs(t - s.last_token_ns));
            }
            s.generated += n;
            s.last_token_ns = t;
            let done = s.generated >= s.output_len;
            out.push(Emission {
                id,
                time_ns: t,
                generated: s.generated,
                finish: done.then_some(s.finish),
                cached_tokens: 0,
            });
            if done {
                metrics.finished(
                    s.finish,
                    Some(FinishedTimes {
                        e2e: ns_to_secs(t - s.arrival_ns),
                        queue: 0.0,
                        prefill: ns_to_secs(s.first_token_ns - s.arrival_ns),
                        decode: ns_to_secs(t - s.first_token_ns),
                        prompt_tokens: s.prompt_len,
                        generated: s.generated,
                    }),
                );
                self.streams.remove(&id);
            } else {
                self.due.push(Reverse((t + self.itl_ns, seq, id)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(id: RequestId, arrival_ns: u64, output_len: u32) -> NewRequest {
        NewRequest {
            id,
            arrival_ns,
            prompt_len: 10,
            block_hashes: Vec::new(),
            prompt_tail: Vec::new(),
            text_key: 0,
            output_len,
            finish: FinishReason::Length,
        }
    }

    #[test]
    fn constant_ttft_and_itl_whatever_the_load() {
        let mut e = FixedEngine::new(50, 10);
        let mut m = Metrics::new();
        for id in 0..100 {
            e.submit(request(id, id * 3, 4));
        }
        let mut out = Vec::new();
        e.advance_to(10_000, &mut out, &mut m);
        assert_eq!(out.len(), 400);
        for id in 0..100 {
            let times: Vec<u64> = out
                .iter()
                .filter(|x| x.id == id)
                .map(|x| x.time_ns)
                .collect();
            assert_eq!(times, [id * 3 + 50, id * 3 + 60, id * 3 + 70, id * 3 + 80]);
        }
        assert_eq!(m.generation_tokens, 400);
        assert_eq!(m.e2e.count(), 100);
        assert_eq!(e.next_event_ns(), None);
    }

    #[test]
    fn instant_releases_everything_at_arrival() {
        let mut e = FixedEngine::new(0, 0);
        let mut m = Metrics::new();
        e.submit(request(1, 5, 64));
        let mut out = Vec::new();
        e.advance_to(5, &mut out, &mut m);
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].generated, out[0].finish),
            (64, Some(FinishReason::Length))
        );
        assert_eq!(m.generation_tokens, 64);
    }

    #[test]
    fn abort_stops_a_stream() {
        let mut e = FixedEngine::new(10, 10);
        let mut m = Metrics::new();
        e.submit(request(1, 0, 100));
        let mut out = Vec::new();
        e.advance_to(25, &mut out, &mut m);
        assert_eq!(out.len(), 2);
        assert!(e.abort(1, &mut m));
        e.advance_to(1_000, &mut out, &mut m);
        assert_eq!(out.len(), 2);
        assert_eq!(m.finished[2], 1);
    }
}
