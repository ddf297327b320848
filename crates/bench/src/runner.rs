//! The timed run: an open-loop dispatcher that releases each request at its scheduled time,
//! an optional FIFO concurrency limit, and a probe that measures how late the runtime wakes
//! timers (the client's own saturation). Also the readiness check and the warmups, which
//! happen before and outside the timed run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{Semaphore, oneshot};

use crate::client::{StreamClient, StreamOutcome};
use crate::metrics::RequestRecord;

/// One request, ready to send.
#[derive(Debug, Clone)]
pub struct PreparedRequest {
    /// The JSON body.
    pub body: Bytes,
    /// `x-request-id`, when the dataset gives one.
    pub request_id: Option<String>,
    /// Prompt length as the dataset counted it.
    pub prompt_len: u64,
    /// `max_tokens` asked for (sizes the per-request gap buffer).
    pub expected_tokens: usize,
}

/// Progress callbacks, called from the runtime's worker threads; keep them cheap.
pub trait Observer: Send + Sync {
    /// A status line (e.g. "Starting main benchmark run...").
    fn message(&self, text: &str);
    /// A phase with `total` requests begins (`warmup` or `benchmark`).
    fn phase_started(&self, phase: &str, total: usize);
    /// One request of the current phase ended.
    fn request_done(&self, success: bool);
    /// The current phase ended.
    fn phase_finished(&self);
}

/// An observer that does nothing (tests, library use).
pub struct Silent;

impl Observer for Silent {
    fn message(&self, _: &str) {}
    fn phase_started(&self, _: &str, _: usize) {}
    fn request_done(&self, _: bool) {}
    fn phase_finished(&self) {}
}

/// Set to `true` to end the run early (Ctrl-C): nothing more is sent, requests in flight are
/// cut off and recorded as failed, and the results so far are still computed and written.
pub type StopSignal = tokio::sync::watch::Receiver<bool>;

/// Resolves once `stop` is set; never, if its sender is gone without setting it.
pub async fn stopped(mut stop: StopSignal) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The error text of a request cut off by a stop.
pub const INTERRUPTED: &str = "interrupted (Ctrl-C) before the response ended";

/// What the timed run produced.
#[derive(Debug, Clone)]
pub struct TimedRun {
    /// One record per request, in dispatch order.
    pub records: Vec<RequestRecord>,
    /// From the start of the dispatch loop until the last request ended.
    pub duration_s: f64,
    /// How late each probe timer fired, seconds.
    pub wakeup_lags: Vec<f64>,
    /// Wall-clock time at the start of the dispatch loop.
    pub wall_start: chrono::DateTime<chrono::Local>,
    /// The run was stopped early; `records` holds only the requests released until then.
    pub interrupted: bool,
}

/// Interval of the wake-up probe.
const PROBE_INTERVAL: Duration = Duration::from_millis(5);

/// Send `requests[i]` at `offsets_s[i]` seconds after the start, at most `max_concurrency`
/// in flight (FIFO), and wait for all of them.
pub async fn timed_run(
    client: &StreamClient,
    requests: &[PreparedRequest],
    offsets_s: &[f64],
    max_concurrency: Option<u64>,
    observer: Arc<dyn Observer>,
    stop: StopSignal,
) -> TimedRun {
    // With a concurrency limit, one admission task takes the released requests in dispatch
    // order and hands out the slots first come, first served (asyncio's semaphore order),
    // while the dispatcher itself never waits for a slot (open loop).
    let admission = max_concurrency
        .map(|n| spawn_admission(n as usize, client.clone(), observer.clone(), stop.clone()));
    let (stop_probe, probe) = spawn_wakeup_probe();
    observer.phase_started("benchmark", requests.len());
    let wall_start = chrono::Local::now();
    let epoch = Instant::now();
    let mut tasks = Vec::with_capacity(requests.len());
    let mut interrupted = false;
    for (request, &offset) in requests.iter().zip(offsets_s) {
        let intended = epoch + Duration::from_secs_f64(offset.max(0.0));
        if offset > 0.0 {
            tokio::select! {
                _ = tokio::time::sleep_until(intended.into()) => {}
                _ = stopped(stop.clone()) => {}
            }
        }
        if *stop.borrow() {
            interrupted = true;
            break;
        }
        let dispatched = Instant::now();
        let request = request.clone();
        let done = launch(admission.as_ref(), client, request, &observer, &stop);
        tasks.push((intended, dispatched, done));
    }
    drop(admission);
    let mut outcomes = Vec::with_capacity(tasks.len());
    for (intended, dispatched, handle) in tasks {
        outcomes.push((intended, dispatched, handle.await));
    }
    let duration_s = epoch.elapsed().as_secs_f64();
    observer.phase_finished();
    let _ = stop_probe.send(());
    let wakeup_lags = probe.await.unwrap_or_default();
    let records = outcomes
        .into_iter()
        .zip(requests)
        .map(|((intended, dispatched, joined), request)| {
            let outcome = joined.unwrap_or_else(|_| {
                StreamOutcome::crashed(dispatched, "request task ended without an outcome".into())
            });
            to_record(epoch, intended, dispatched, request.prompt_len, outcome)
        })
        .collect();
    TimedRun {
        records,
        duration_s,
        wakeup_lags,
        wall_start,
        interrupted: interrupted || *stop.borrow(),
    }
}

type Admission =
    tokio::sync::mpsc::UnboundedSender<(PreparedRequest, oneshot::Sender<StreamOutcome>)>;

/// Start one request now, or queue it for a concurrency slot; the receiver gets its outcome.
fn launch(
    admission: Option<&Admission>,
    client: &StreamClient,
    request: PreparedRequest,
    observer: &Arc<dyn Observer>,
    stop: &StopSignal,
) -> oneshot::Receiver<StreamOutcome> {
    let (done_tx, done_rx) = oneshot::channel();
    match admission {
        Some(queue) => {
            let _ = queue.send((request, done_tx));
        }
        None => {
            tokio::spawn(send_one(
                client.clone(),
                request,
                None,
                observer.clone(),
                done_tx,
                stop.clone(),
            ));
        }
    }
    done_rx
}

/// The FIFO gate for `--max-concurrency`: takes a slot for each request in arrival order,
/// then starts it; the slot is released when the request ends.
fn spawn_admission(
    slots: usize,
    client: StreamClient,
    observer: Arc<dyn Observer>,
    stop: StopSignal,
) -> Admission {
    let (tx, mut rx) =
        tokio::sync::mpsc::unbounded_channel::<(PreparedRequest, oneshot::Sender<StreamOutcome>)>();
    let semaphore = Arc::new(Semaphore::new(slots.max(1)));
    tokio::spawn(async move {
        while let Some((request, done)) = rx.recv().await {
            let permit = tokio::select! {
                permit = semaphore.clone().acquire_owned() => permit.ok(),
                _ = stopped(stop.clone()) => None,
            };
            let Some(permit) = permit else {
                // Stopped while waiting for a slot: the request was never sent.
                observer.request_done(false);
                let _ = done.send(StreamOutcome::crashed(Instant::now(), INTERRUPTED.into()));
                continue;
            };
            tokio::spawn(send_one(
                client.clone(),
                request,
                Some(permit),
                observer.clone(),
                done,
                stop.clone(),
            ));
        }
    });
    tx
}

async fn send_one(
    client: StreamClient,
    request: PreparedRequest,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
    observer: Arc<dyn Observer>,
    done: oneshot::Sender<StreamOutcome>,
    stop: StopSignal,
) {
    let send = client.send(
        request.body,
        request.request_id.as_deref(),
        request.expected_tokens,
    );
    let outcome = tokio::select! {
        outcome = send => outcome,
        _ = stopped(stop) => StreamOutcome::crashed(Instant::now(), INTERRUPTED.into()),
    };
    drop(permit);
    observer.request_done(outcome.success);
    let _ = done.send(outcome);
}

/// Times relative to `epoch`, in seconds, the way the metrics want them.
fn to_record(
    epoch: Instant,
    intended: Instant,
    dispatched: Instant,
    prompt_len: u64,
    o: StreamOutcome,
) -> RequestRecord {
    let since = |t: Instant| t.saturating_duration_since(epoch).as_secs_f64();
    let after_start =
        |t: Option<Instant>| t.map_or(0.0, |t| t.saturating_duration_since(o.start).as_secs_f64());
    RequestRecord {
        intended_s: since(intended),
        dispatched_s: since(dispatched),
        start_s: since(o.start),
        success: o.success,
        ttft_s: after_start(o.first_token),
        latency_s: if o.success {
            after_start(o.last_token)
        } else {
            0.0
        },
        itl_s: o.itl_s,
        usage_output_tokens: o.completion_tokens,
        prompt_len: o.prompt_tokens.unwrap_or(prompt_len),
        generated_text: o.generated_text,
        error: o.error,
    }
}

/// A task that sleeps in short steps and records how late each wake-up is. A saturated
/// runtime wakes late, and then every timestamp the client takes is late too.
fn spawn_wakeup_probe() -> (oneshot::Sender<()>, tokio::task::JoinHandle<Vec<f64>>) {
    let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        let mut lags = Vec::new();
        loop {
            // tokio's timer has millisecond ticks and rounds deadlines up to the next tick, so a
            // healthy runtime shows lags of up to about 1 ms.
            let deadline = Instant::now() + PROBE_INTERVAL;
            tokio::select! {
                _ = &mut stop_rx => break,
                _ = tokio::time::sleep_until(deadline.into()) => {
                    lags.push(Instant::now().saturating_duration_since(deadline).as_secs_f64());
                }
            }
        }
        lags
    });
    (stop_tx, handle)
}

/// vLLM's readiness check: send the first request until one succeeds or the
/// `--ready-check-timeout-sec` budget `timeout`, counted from `started` (when the client
/// began to reach the server), is spent. At least one attempt is made, and one more may start
/// up to a second past the budget so a server found late still gets a try.
pub async fn ready_check(
    client: &StreamClient,
    first: &PreparedRequest,
    started: Instant,
    timeout: Duration,
    observer: &dyn Observer,
) -> Result<(), String> {
    let deadline = (started + timeout).max(Instant::now() + Duration::from_secs(1));
    observer.message(&format!(
        "Waiting for endpoint to become up in {} seconds",
        timeout.as_secs()
    ));
    loop {
        let outcome = client
            .send(first.body.clone(), None, first.expected_tokens)
            .await;
        if outcome.success {
            observer.message("Initial test run completed.");
            return Ok(());
        }
        let last_line = outcome.error.lines().last().unwrap_or("").to_string();
        let now = Instant::now();
        if now >= deadline {
            return Err(not_ready_message(
                &client.endpoint().url.to_string(),
                now - started,
                timeout,
                &last_line,
            ));
        }
        observer.message(&format!("Endpoint is not ready. Error='{last_line}'"));
        tokio::time::sleep(RETRY_INTERVAL.min(deadline - now)).await;
    }
}

/// The readiness failure: the real time waited and the timeout given.
fn not_ready_message(url: &str, waited: Duration, timeout: Duration, last: &str) -> String {
    format!(
        "endpoint {url} is not ready after {:.1} s (--ready-check-timeout-sec {}); last error: {last}",
        waited.as_secs_f64(),
        timeout.as_secs()
    )
}

/// Pause between readiness attempts (vLLM waits 5 s; a shorter pause only starts sooner).
const RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// `--num-warmups` copies of the first request, concurrently, under the same limit.
pub async fn warmups(
    client: &StreamClient,
    first: &PreparedRequest,
    count: u64,
    max_concurrency: Option<u64>,
    observer: Arc<dyn Observer>,
    stop: StopSignal,
) -> usize {
    observer.phase_started("warmup", count as usize);
    let mut first = first.clone();
    first.request_id = None;
    let admission = max_concurrency
        .map(|n| spawn_admission(n as usize, client.clone(), observer.clone(), stop.clone()));
    let waiting: Vec<_> = (0..count)
        .map(|_| launch(admission.as_ref(), client, first.clone(), &observer, &stop))
        .collect();
    drop(admission);
    let mut failed = 0;
    for done in waiting {
        if !done.await.map(|o| o.success).unwrap_or(false) {
            failed += 1;
        }
    }
    observer.phase_finished();
    failed
}
