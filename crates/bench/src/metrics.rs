//! From per-request records to the benchmark's numbers (vllm-bench.md §2), plus the
//! schedule-based latencies that do not hide queueing.
//!
//! Pure: records in, numbers out. All times are seconds from the start of the timed run.

use crate::stats::{self, Summary};

/// What the client saw of one request, in dispatch order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RequestRecord {
    /// When the schedule meant the request to be sent.
    pub intended_s: f64,
    /// When the dispatcher released it (vLLM's `request_arrival_time`).
    pub dispatched_s: f64,
    /// When it was handed to the connection, after any `--max-concurrency` wait.
    pub start_s: f64,
    /// HTTP 200 and at least one token chunk.
    pub success: bool,
    /// First token chunk − start (0 when none arrived).
    pub ttft_s: f64,
    /// Last token chunk − start for successes, 0 for failures (as vLLM).
    pub latency_s: f64,
    /// Gaps between token chunks.
    pub itl_s: Vec<f64>,
    /// `usage.completion_tokens`, when the server sent it.
    pub usage_output_tokens: Option<u64>,
    /// Prompt length: the server's `usage.prompt_tokens` when present, else the dataset's.
    pub prompt_len: u64,
    /// Streamed text, when collected.
    pub generated_text: String,
    /// Empty on success.
    pub error: String,
}

/// Which latency a goodput SLO bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SloMetric {
    /// Time to first token.
    Ttft,
    /// Time per output token (0 for single-token outputs).
    Tpot,
    /// End-to-end latency.
    E2el,
}

/// Aggregated results of a run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Metrics {
    /// Successful requests.
    pub completed: usize,
    /// Failed requests.
    pub failed: usize,
    /// Σ prompt_len over successes.
    pub total_input: u64,
    /// Σ output length over successes.
    pub total_output: u64,
    /// completed / duration.
    pub request_throughput: f64,
    /// good / duration, when SLOs were given.
    pub request_goodput: Option<f64>,
    /// total_output / duration.
    pub output_throughput: f64,
    /// (total_input + total_output) / duration.
    pub total_token_throughput: f64,
    /// Output length per request in dispatch order (0 for failures).
    pub output_lens: Vec<u64>,
    /// Successes only, seconds.
    pub ttfts: Vec<f64>,
    /// Successes with more than one output token.
    pub tpots: Vec<f64>,
    /// All gaps of all successes.
    pub itls: Vec<f64>,
    /// Successes' end-to-end latencies.
    pub e2els: Vec<f64>,
    /// Successes' waits for the concurrency limit.
    pub client_queue_times: Vec<f64>,
    /// Successes' latency + queue wait.
    pub e2els_including_queue: Vec<f64>,
    /// Peak token chunks in any one-second bucket.
    pub max_output_tokens_per_s: f64,
    /// Peak requests in flight (sweep line over `[start, start + latency)`).
    pub max_concurrent_requests: u64,
    /// Successes' TTFT measured from the intended send time.
    pub ttfts_from_schedule: Vec<f64>,
    /// Successes' E2EL measured from the intended send time.
    pub e2els_from_schedule: Vec<f64>,
    /// Every request's actual send − intended send.
    pub send_lags: Vec<f64>,
    /// Every request's dispatch − intended send (the client's own lateness).
    pub dispatch_lags: Vec<f64>,
    /// Share of inter-token gaps that are exactly 0 (chunks that came in one read).
    pub itl_same_read_fraction: f64,
}

/// Compute the metrics. `count_tokens` re-encodes a generated text when the server sent no
/// usage (vLLM's fallback); without it such a request counts as 1 output token.
pub fn compute(
    records: &[RequestRecord],
    duration_s: f64,
    goodput: &[(SloMetric, f64)],
    count_tokens: Option<&dyn Fn(&str) -> u64>,
) -> Metrics {
    let mut m = Metrics::default();
    let mut all_tpots = Vec::new();
    for r in records {
        m.send_lags.push(r.start_s - r.intended_s);
        m.dispatch_lags.push(r.dispatched_s - r.intended_s);
        if !r.success {
            m.failed += 1;
            m.output_lens.push(0);
            continue;
        }
        let output_len = match r.usage_output_tokens {
            Some(n) if n > 0 => n,
            _ => count_tokens.map_or(1, |count| count(&r.generated_text)),
        };
        m.output_lens.push(output_len);
        m.completed += 1;
        m.total_input += r.prompt_len;
        m.total_output += output_len;
        let tpot = if output_len > 1 {
            (r.latency_s - r.ttft_s) / (output_len - 1) as f64
        } else {
            0.0
        };
        if output_len > 1 {
            m.tpots.push(tpot);
        }
        all_tpots.push(tpot);
        m.itls.extend_from_slice(&r.itl_s);
        m.ttfts.push(r.ttft_s);
        m.e2els.push(r.latency_s);
        let queue = r.start_s - r.dispatched_s;
        m.client_queue_times.push(queue);
        m.e2els_including_queue.push(r.latency_s + queue);
        m.ttfts_from_schedule
            .push(r.start_s + r.ttft_s - r.intended_s);
        m.e2els_from_schedule
            .push(r.start_s + r.latency_s - r.intended_s);
    }
    let per_s = |x: f64| {
        if duration_s > 0.0 {
            x / duration_s
        } else {
            0.0
        }
    };
    m.request_throughput = per_s(m.completed as f64);
    m.output_throughput = per_s(m.total_output as f64);
    m.total_token_throughput = per_s((m.total_input + m.total_output) as f64);
    if !goodput.is_empty() {
        let good = (0..m.completed)
            .filter(|&i| {
                goodput.iter().all(|&(metric, slo_ms)| {
                    let value = match metric {
                        SloMetric::Ttft => m.ttfts[i],
                        SloMetric::Tpot => all_tpots[i],
                        SloMetric::E2el => m.e2els[i],
                    };
                    slo_ms / 1000.0 >= value
                })
            })
            .count();
        m.request_goodput = Some(per_s(good as f64));
    }
    let successes: Vec<&RequestRecord> = records.iter().filter(|r| r.success).collect();
    m.max_output_tokens_per_s = peak_chunks_per_second(&successes);
    m.max_concurrent_requests = peak_concurrency(&successes);
    let zero_gaps = m.itls.iter().filter(|&&g| g == 0.0).count();
    m.itl_same_read_fraction = if m.itls.is_empty() {
        0.0
    } else {
        zero_gaps as f64 / m.itls.len() as f64
    };
    m
}

/// vLLM's peak output rate: token chunk times in one-second buckets from the first start.
fn peak_chunks_per_second(successes: &[&RequestRecord]) -> f64 {
    let Some(t0) = successes.iter().map(|r| r.start_s).min_by(f64::total_cmp) else {
        return 0.0;
    };
    let end = successes
        .iter()
        .map(|r| r.start_s + r.latency_s)
        .fold(f64::MIN, f64::max);
    let buckets = (end - t0).ceil() as usize + 1;
    let mut counts = vec![0u64; buckets];
    for r in successes {
        let mut t = r.start_s + r.ttft_s;
        let mut add = |t: f64| {
            let b = (t - t0).trunc();
            if b >= 0.0 && (b as usize) < buckets {
                counts[b as usize] += 1;
            }
        };
        add(t);
        for gap in &r.itl_s {
            t += gap;
            add(t);
        }
    }
    counts.into_iter().max().unwrap_or(0) as f64
}

/// Peak number of requests in flight, half-open intervals `[start, start + latency)`.
fn peak_concurrency(successes: &[&RequestRecord]) -> u64 {
    let mut events: Vec<(f64, i8)> = Vec::with_capacity(successes.len() * 2);
    for r in successes {
        events.push((r.start_s, 1));
        events.push((r.start_s + r.latency_s, -1));
    }
    events.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut running, mut peak) = (0i64, 0i64);
    for (_, delta) in events {
        running += delta as i64;
        peak = peak.max(running);
    }
    peak as u64
}

/// The run fell behind its schedule or its runtime could not wake tasks on time: the
/// measured latencies then include client delay. Thresholds are documented in the README.
pub fn is_client_bound(dispatch_lags: &[f64], wakeup_lags: &[f64], finite_rate: bool) -> bool {
    let p99 = |v: &[f64]| {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        stats::percentile_sorted(&s, 99.0)
    };
    let late_dispatch = finite_rate && p99(dispatch_lags) > CLIENT_BOUND_LAG_S;
    late_dispatch || p99(wakeup_lags) > CLIENT_BOUND_LAG_S
}

/// A p99 lag above this (seconds) marks the run as client-bound.
pub const CLIENT_BOUND_LAG_S: f64 = 0.005;

/// Summary in milliseconds of a list in seconds.
pub fn summary_ms(values: &[f64], percentiles: &[f64]) -> Summary {
    Summary::of(values, percentiles).scaled(1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(start: f64, ttft: f64, itl: &[f64], usage: Option<u64>) -> RequestRecord {
        RequestRecord {
            intended_s: start,
            dispatched_s: start,
            start_s: start,
            success: true,
            ttft_s: ttft,
            latency_s: ttft + itl.iter().sum::<f64>(),
            itl_s: itl.to_vec(),
            usage_output_tokens: usage,
            prompt_len: 10,
            ..Default::default()
        }
    }

    fn failed(start: f64) -> RequestRecord {
        RequestRecord {
            intended_s: start,
            dispatched_s: start,
            start_s: start,
            prompt_len: 10,
            error: "boom".into(),
            ..Default::default()
        }
    }

    #[test]
    fn counts_throughputs_and_tpot() {
        let records = vec![
            ok(0.0, 0.1, &[0.02, 0.03], Some(3)),
            failed(0.5),
            ok(1.0, 0.2, &[], Some(1)),
        ];
        let m = compute(&records, 2.0, &[], None);
        assert_eq!(
            (m.completed, m.failed, m.total_input, m.total_output),
            (2, 1, 20, 4)
        );
        assert_eq!(m.output_lens, vec![3, 0, 1]);
        assert_eq!(m.request_throughput, 1.0);
        assert_eq!(m.output_throughput, 2.0);
        assert_eq!(m.total_token_throughput, 12.0);
        assert_eq!(m.tpots.len(), 1, "single-token outputs have no TPOT");
        assert!((m.tpots[0] - 0.025).abs() < 1e-12);
        assert_eq!(m.itls, vec![0.02, 0.03]);
        assert_eq!(m.ttfts, vec![0.1, 0.2]);
        assert_eq!(m.request_goodput, None);
    }

    #[test]
    fn output_length_fallbacks() {
        let mut r = ok(0.0, 0.1, &[0.1], None);
        r.generated_text = "a b c d".into();
        let count = |t: &str| t.split(' ').count() as u64;
        assert_eq!(
            compute(std::slice::from_ref(&r), 1.0, &[], Some(&count)).output_lens,
            vec![4]
        );
        assert_eq!(
            compute(std::slice::from_ref(&r), 1.0, &[], None).output_lens,
            vec![1]
        );
        r.usage_output_tokens = Some(0);
        assert_eq!(
            compute(&[r], 1.0, &[], None).output_lens,
            vec![1],
            "0 is not truthy: fall back"
        );
    }

    #[test]
    fn goodput_is_inclusive_and_uses_zero_tpot_for_single_tokens() {
        // Dyadic values keep the arithmetic exact, so the inclusive bound is really tested.
        let records = vec![
            ok(0.0, 0.125, &[0.0625, 0.0625], Some(3)), // tpot 62.5 ms, e2el 250 ms
            ok(0.0, 0.375, &[], Some(1)),               // tpot 0, e2el 375 ms
            ok(0.0, 0.125, &[0.25], Some(2)),           // tpot 250 ms, e2el 375 ms
        ];
        let g =
            |slos: &[(SloMetric, f64)]| compute(&records, 1.0, slos, None).request_goodput.unwrap();
        assert_eq!(g(&[(SloMetric::Ttft, 125.0)]), 2.0);
        assert_eq!(g(&[(SloMetric::Tpot, 62.5)]), 2.0);
        assert_eq!(
            g(&[(SloMetric::Ttft, 125.0), (SloMetric::E2el, 375.0)]),
            2.0
        );
        assert_eq!(g(&[(SloMetric::E2el, 250.0)]), 1.0);
        assert_eq!(g(&[(SloMetric::E2el, 1.0)]), 0.0);
    }

    #[test]
    fn peak_tokens_per_second_buckets() {
        // Chunks at 0.1, 0.6, 1.1 (req a) and 1.2, 1.3 (req b): bucket 0 has 2, bucket 1 has 3.
        let records = vec![
            ok(0.0, 0.1, &[0.5, 0.5], Some(3)),
            ok(1.0, 0.2, &[0.1], Some(2)),
        ];
        assert_eq!(
            compute(&records, 2.0, &[], None).max_output_tokens_per_s,
            3.0
        );
    }

    #[test]
    fn peak_concurrency_sweep_line_half_open() {
        // [0, 1), [1, 2) touch but do not overlap; [0.5, 1.5) overlaps both.
        let a = ok(0.0, 1.0, &[], Some(1));
        let b = ok(1.0, 1.0, &[], Some(1));
        assert_eq!(
            compute(&[a.clone(), b.clone()], 2.0, &[], None).max_concurrent_requests,
            1
        );
        let c = ok(0.5, 1.0, &[], Some(1));
        assert_eq!(
            compute(&[a, b, c], 2.0, &[], None).max_concurrent_requests,
            2
        );
        assert_eq!(
            compute(&[failed(0.0)], 1.0, &[], None).max_concurrent_requests,
            0
        );
    }

    #[test]
    fn schedule_based_latency_and_lags() {
        let mut r = ok(0.0, 0.1, &[0.1], Some(2));
        r.intended_s = 1.0;
        r.dispatched_s = 1.002;
        r.start_s = 1.5; // waited 0.498 s for a concurrency slot
        let m = compute(&[r], 3.0, &[], None);
        assert!((m.ttfts_from_schedule[0] - 0.6).abs() < 1e-12);
        assert!((m.e2els_from_schedule[0] - 0.7).abs() < 1e-12);
        assert!((m.send_lags[0] - 0.5).abs() < 1e-12);
        assert!((m.dispatch_lags[0] - 0.002).abs() < 1e-12);
        assert!((m.client_queue_times[0] - 0.498).abs() < 1e-12);
        assert!((m.e2els_including_queue[0] - 0.698).abs() < 1e-12);
    }

    #[test]
    fn client_bound_thresholds() {
        assert!(!is_client_bound(&[0.001; 100], &[0.001; 100], true));
        assert!(is_client_bound(&[0.02; 100], &[0.001; 100], true));
        assert!(
            !is_client_bound(&[0.02; 100], &[0.001; 100], false),
            "an infinite rate has no schedule to miss"
        );
        assert!(is_client_bound(&[], &[0.02; 100], false));
    }

    #[test]
    fn empty_run() {
        let m = compute(&[], 0.0, &[(SloMetric::Ttft, 1.0)], None);
        assert_eq!(
            (m.completed, m.request_throughput, m.max_output_tokens_per_s),
            (0, 0.0, 0.0)
        );
        assert_eq!(m.request_goodput, Some(0.0));
    }

    #[test]
    fn same_read_fraction() {
        let m = compute(
            &[ok(0.0, 0.1, &[0.0, 0.01, 0.0, 0.02], Some(5))],
            1.0,
            &[],
            None,
        );
        assert_eq!(m.itl_same_read_fraction, 0.5);
    }
}
