//! The engine thread: the only owner of the simulator and of the clock.
//!
//! It maps virtual time 1:1 onto wall time from `t0`, sleeps until the next event's
//! absolute deadline (or until a message arrives), advances the simulator, and publishes
//! every emission whose release time has come. There is one timer for the whole server.
//!
//! Releases are batched: after publishing, the thread sleeps at least [`MIN_RELEASE_GAP`]
//! before the next release, so thousands of streams with unaligned token times (the
//! `fixed` profile) cost a few thousand wake-ups per second, not one per token. Step-level
//! profiles release at most twice per step (step end, then `t_out` later), far less often.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::engine::{Emission, NewRequest, RequestId};
use crate::server::sink::Sink;
use crate::sim::Simulator;

/// A message to the engine thread.
#[derive(Debug)]
pub enum EngineMsg {
    /// A new request; `arrival_ns` in the request is replaced by `arrived`.
    Submit {
        /// The request.
        request: NewRequest,
        /// Wall time it reached the server.
        arrived: Instant,
        /// Where its progress goes.
        sink: Arc<Sink>,
    },
    /// The client went away.
    Abort(RequestId),
    /// `POST /reset_prefix_cache`.
    ResetPrefixCache(oneshot::Sender<bool>),
    /// `POST /reset_mm_cache`.
    ResetMmCache,
    /// `POST /reset_encoder_cache`.
    ResetEncoderCache,
    /// Render `/metrics` for this model name.
    Metrics(String, oneshot::Sender<String>),
    /// Close every stream and stop.
    Shutdown,
}

/// Shortest pause between two releases; the most a token is held back by batching.
pub const MIN_RELEASE_GAP: Duration = Duration::from_micros(200);

fn virtual_ns(t0: Instant, t: Instant) -> u64 {
    t.saturating_duration_since(t0).as_nanos() as u64
}

/// Run the engine until [`EngineMsg::Shutdown`] or until every sender is gone.
pub fn run_engine(mut sim: Simulator, inbox: Receiver<EngineMsg>, t0: Instant) {
    let mut sinks: HashMap<RequestId, Arc<Sink>> = HashMap::new();
    // Emissions computed ahead of their release time, by (time, order).
    let mut held: BTreeMap<(u64, u64), Emission> = BTreeMap::new();
    let mut held_seq = 0u64;
    let mut out: Vec<Emission> = Vec::new();
    let mut next_msg: Option<EngineMsg> = None;
    let gap = MIN_RELEASE_GAP.as_nanos() as u64;
    let mut last_release = 0u64;
    loop {
        // 1. Handle what arrived.
        let mut msg = next_msg.take();
        while let Some(m) = msg.take().or_else(|| inbox.try_recv().ok()) {
            match m {
                EngineMsg::Submit {
                    mut request,
                    arrived,
                    sink,
                } => {
                    request.arrival_ns = virtual_ns(t0, arrived);
                    sinks.insert(request.id, sink);
                    sim.submit(request);
                }
                EngineMsg::Abort(id) => {
                    if sinks.remove(&id).is_some() {
                        sim.abort(id);
                    }
                }
                EngineMsg::ResetPrefixCache(reply) => {
                    let _ = reply.send(sim.reset_prefix_cache());
                }
                EngineMsg::ResetMmCache => sim.reset_mm_cache(),
                EngineMsg::ResetEncoderCache => sim.reset_encoder_cache(),
                EngineMsg::Metrics(model, reply) => {
                    let _ = reply.send(sim.render_metrics(&model));
                }
                EngineMsg::Shutdown => {
                    for sink in sinks.values() {
                        sink.close();
                    }
                    return;
                }
            }
        }

        // 2. Advance to now and publish what is due.
        let now = virtual_ns(t0, Instant::now());
        sim.advance_to(now, &mut out);
        for e in out.drain(..) {
            held.insert((e.time_ns, held_seq), e);
            held_seq += 1;
        }
        if held.keys().next().is_some_and(|&(t, _)| t <= now) {
            last_release = now;
        }
        while let Some(entry) = held.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let e = entry.remove();
            let finished = e.finish.is_some();
            if let Some(sink) = sinks.get(&e.id) {
                sink.publish(&e);
                if finished {
                    sinks.remove(&e.id);
                }
            }
        }

        // 3. Sleep until the next deadline or message.
        let next_release = held.keys().next().map(|&(t, _)| t.max(last_release + gap));
        let next = match (sim.next_event_ns(), next_release) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let received = match next {
            Some(deadline) => {
                let now = virtual_ns(t0, Instant::now());
                if deadline <= now {
                    continue;
                }
                inbox.recv_timeout(Duration::from_nanos(deadline - now))
            }
            None => inbox.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match received {
            Ok(m) => next_msg = Some(m),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}
