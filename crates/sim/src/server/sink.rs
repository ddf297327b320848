//! Where the engine thread leaves a request's progress and the HTTP side picks it up.
//!
//! The engine only stores counts (tokens so far, finish reason) and wakes the waiting task;
//! the task renders bytes when it runs, taking everything that piled up since its last
//! poll. A client that reads slowly therefore gets merged deltas, as from vLLM, and the
//! engine never blocks on a socket.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::Bytes;

use crate::api::render::{ChunkTemplate, DONE, Usage};
use crate::engine::{Emission, FinishReason, RequestId};
use crate::metrics::Histogram;
use crate::server::driver::EngineMsg;

/// Bucket bounds of `llmsweep_sim:emit_lag_seconds`.
pub const LAG_BUCKETS: &[f64] = &[
    10e-6, 20e-6, 50e-6, 100e-6, 200e-6, 300e-6, 500e-6, 750e-6, 1e-3, 1.5e-3, 2e-3, 3e-3, 5e-3,
    10e-3, 20e-3, 50e-3, 100e-3, 1.0,
];

/// Lag between a token's scheduled release and its bytes being handed to the connection.
#[derive(Debug)]
pub struct LagStats {
    hist: Mutex<Histogram>,
}

impl Default for LagStats {
    fn default() -> Self {
        Self {
            hist: Mutex::new(Histogram::new(LAG_BUCKETS)),
        }
    }
}

impl LagStats {
    fn lock(&self) -> MutexGuard<'_, Histogram> {
        self.hist.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Record one lag, s.
    pub fn observe(&self, seconds: f64) {
        self.lock().observe(seconds);
    }

    /// Append the histogram to a `/metrics` page.
    pub fn render(&self, out: &mut String, labels: &str) {
        self.lock().render(
            out,
            "llmsweep_sim:emit_lag_seconds",
            "Wall time from a token's scheduled release to its bytes being handed to the connection.",
            labels,
        );
    }
}

#[derive(Debug, Default)]
struct SinkState {
    generated: u32,
    finish: Option<FinishReason>,
    cached_tokens: u32,
    /// Virtual release time of the oldest update not yet taken.
    oldest_untaken_ns: Option<u64>,
    closed: bool,
    waker: Option<Waker>,
}

/// One request's progress, shared by the engine thread and the HTTP task.
#[derive(Debug, Default)]
pub struct Sink {
    state: Mutex<SinkState>,
}

/// What the HTTP side takes from a sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Tokens generated so far.
    pub generated: u32,
    /// Set once the request ended.
    pub finish: Option<FinishReason>,
    /// Prompt tokens served from the prefix cache.
    pub cached_tokens: u32,
    /// Virtual release time of the oldest update in this batch.
    pub released_ns: Option<u64>,
}

impl Sink {
    fn lock(&self) -> MutexGuard<'_, SinkState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Engine side: record an emission and wake the task.
    pub fn publish(&self, e: &Emission) {
        let waker = {
            let mut s = self.lock();
            s.generated = e.generated;
            s.finish = e.finish;
            s.cached_tokens = e.cached_tokens;
            s.oldest_untaken_ns.get_or_insert(e.time_ns);
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Engine side: the engine is gone; end the response.
    pub fn close(&self) {
        let waker = {
            let mut s = self.lock();
            s.closed = true;
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// HTTP side: progress beyond `seen` tokens (or the end), else register to be woken.
    /// `Ready(None)` means the engine closed.
    pub fn poll_progress(&self, cx: &mut Context<'_>, seen: u32) -> Poll<Option<Progress>> {
        let mut s = self.lock();
        if s.generated > seen || s.finish.is_some() {
            let released_ns = s.oldest_untaken_ns.take();
            return Poll::Ready(Some(Progress {
                generated: s.generated,
                finish: s.finish,
                cached_tokens: s.cached_tokens,
                released_ns,
            }));
        }
        if s.closed {
            return Poll::Ready(None);
        }
        if !s.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            s.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// What a response needs to know about its request.
#[derive(Debug, Clone)]
pub struct ResponseContext {
    /// The request.
    pub id: RequestId,
    /// Fixes the answer text.
    pub text_key: u64,
    /// Prompt tokens, for usage.
    pub prompt_tokens: u32,
    /// Where the engine leaves progress.
    pub sink: Arc<Sink>,
    /// To abort the request if the client goes away.
    pub engine: Sender<EngineMsg>,
    /// Lag statistics.
    pub lag: Arc<LagStats>,
    /// Wall time of virtual 0.
    pub t0: Instant,
}

impl ResponseContext {
    fn observe_lag(&self, released_ns: Option<u64>) {
        if let Some(ns) = released_ns {
            let now = self.t0.elapsed().as_nanos() as u64;
            self.lag.observe(now.saturating_sub(ns) as f64 / 1e9);
        }
    }

    fn usage(&self, p: &Progress) -> Usage {
        Usage {
            prompt_tokens: self.prompt_tokens,
            completion_tokens: p.generated,
            cached_tokens: p.cached_tokens,
        }
    }
}

/// Aborts the request in the engine when dropped before the request finished.
#[derive(Debug)]
struct AbortGuard {
    ctx: ResponseContext,
    finished: bool,
}

impl Drop for AbortGuard {
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.ctx.engine.send(EngineMsg::Abort(self.ctx.id));
        }
    }
}

/// An SSE response body: yields one buffer per wake-up with every chunk that is due.
pub struct SseStream {
    guard: AbortGuard,
    template: ChunkTemplate,
    include_usage: bool,
    /// `stream_options.continuous_usage_stats` (with `include_usage`).
    continuous_usage: bool,
    framing: Framing,
    rendered: u32,
    done: bool,
}

/// How tokens that are ready together become SSE events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One event with all of them, as vLLM merges deltas a client has not read yet.
    Merge,
    /// One event per token (the `instant` profile: every token is ready at once, yet
    /// clients under test should see a token stream).
    PerToken,
}

/// Most events one poll renders under [`Framing::PerToken`], so a long answer is written
/// in bounded pieces.
const EVENTS_PER_POLL: u32 = 256;

static STREAMS_OPEN: AtomicU64 = AtomicU64::new(0);

/// Streams currently open (for `/metrics`).
pub fn streams_open() -> u64 {
    STREAMS_OPEN.load(Ordering::Relaxed)
}

impl SseStream {
    /// A stream for `ctx`, rendered with `template`.
    pub fn new(
        ctx: ResponseContext,
        template: ChunkTemplate,
        (include_usage, continuous_usage): (bool, bool),
        framing: Framing,
    ) -> Self {
        STREAMS_OPEN.fetch_add(1, Ordering::Relaxed);
        Self {
            guard: AbortGuard {
                ctx,
                finished: false,
            },
            template,
            include_usage,
            continuous_usage: include_usage && continuous_usage,
            framing,
            rendered: 0,
            done: false,
        }
    }
}

impl Drop for SseStream {
    fn drop(&mut self) {
        STREAMS_OPEN.fetch_sub(1, Ordering::Relaxed);
    }
}

impl futures_util::Stream for SseStream {
    type Item = Result<Bytes, std::convert::Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        let progress = match this.guard.ctx.sink.poll_progress(cx, this.rendered) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(None) => {
                this.done = true;
                return Poll::Ready(None);
            }
            Poll::Ready(Some(p)) => p,
        };
        let ctx = &this.guard.ctx;
        ctx.observe_lag(progress.released_ns);
        let mut out = Vec::with_capacity(256);
        let prompt_tokens = ctx.prompt_tokens;
        let continuous = this.continuous_usage;
        let running = move |n: u32| continuous.then_some((prompt_tokens, n));
        if this.rendered == 0 {
            this.template.push_role(&mut out, running(0));
        }
        let target = match this.framing {
            Framing::Merge => progress.generated,
            Framing::PerToken => progress.generated.min(this.rendered + EVENTS_PER_POLL),
        };
        let finish = progress.finish.filter(|_| target == progress.generated);
        if target > this.rendered || finish.is_some() {
            if this.framing == Framing::PerToken {
                while this.rendered + 1 < target {
                    let i = this.rendered;
                    this.template.push_tokens(
                        &mut out,
                        ctx.text_key,
                        (i, i + 1),
                        None,
                        running(i + 1),
                    );
                    this.rendered += 1;
                }
            }
            this.template.push_tokens(
                &mut out,
                ctx.text_key,
                (this.rendered, target),
                finish,
                running(target),
            );
            this.rendered = target;
        }
        if finish.is_some() {
            if this.include_usage {
                this.template.push_usage(&mut out, ctx.usage(&progress));
            }
            out.extend_from_slice(DONE);
            this.done = true;
            this.guard.finished = true;
        }
        Poll::Ready(Some(Ok(Bytes::from(out))))
    }
}

/// Wait for a non-streaming request to finish; `None` if the engine closed first.
/// Dropping the future before it completes aborts the request.
pub async fn wait_finished(ctx: ResponseContext) -> Option<Progress> {
    let mut guard = AbortGuard {
        ctx,
        finished: false,
    };
    // No token count is ever above u32::MAX, so only the end (or closing) is ready.
    let progress = std::future::poll_fn(|cx| guard.ctx.sink.poll_progress(cx, u32::MAX)).await;
    guard.finished = true;
    progress
}
