//! vLLM's Prometheus metrics: counters, fixed-bucket histograms with vLLM's bucket bounds,
//! and the text rendering of `/metrics`.
//!
//! Engines update a [`Metrics`] as virtual time passes, so every latency here is in
//! virtual seconds and two identical virtual-time runs render byte-identical text.

use std::fmt::Write as _;

use crate::engine::{FinishReason, Gauges};

/// Bucket bounds of `vllm:time_to_first_token_seconds`.
pub const TTFT_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
];
/// Bucket bounds of `vllm:inter_token_latency_seconds` (and the older
/// `vllm:time_per_output_token_seconds`).
pub const ITL_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
    40.0, 80.0,
];
/// Bucket bounds of the request-level latency histograms (E2E, queue, prefill, decode).
pub const REQUEST_BUCKETS: &[f64] = &[
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0,
    480.0, 960.0, 1920.0, 7680.0,
];

/// A cumulative-on-render histogram with fixed bucket bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    bounds: std::borrow::Cow<'static, [f64]>,
    /// Per-bucket (non-cumulative) counts; the last slot is `+Inf`.
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    /// An empty histogram over `bounds` (ascending).
    pub fn new(bounds: &'static [f64]) -> Self {
        Self::with_bounds(std::borrow::Cow::Borrowed(bounds))
    }

    fn with_bounds(bounds: std::borrow::Cow<'static, [f64]>) -> Self {
        Self {
            counts: vec![0; bounds.len() + 1],
            bounds,
            sum: 0.0,
            count: 0,
        }
    }

    /// Record one value.
    pub fn observe(&mut self, value: f64) {
        self.observe_n(value, 1);
    }

    /// Record the same value `n` times.
    pub fn observe_n(&mut self, value: f64, n: u64) {
        if n == 0 {
            return;
        }
        let i = self.bounds.partition_point(|&b| b < value);
        self.counts[i] += n;
        self.sum += value * n as f64;
        self.count += n;
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Sum of observations.
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// Smallest bucket bound below which at least `q` of the observations fall
    /// (`+Inf` if that is the last bucket); `None` when empty.
    pub fn quantile_bound(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let target = (q * self.count as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= target {
                return Some(self.bounds.get(i).copied().unwrap_or(f64::INFINITY));
            }
        }
        Some(f64::INFINITY)
    }

    /// Append this histogram in Prometheus text format.
    pub fn render(&self, out: &mut String, name: &str, help: &str, labels: &str) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, c) in self.counts.iter().enumerate() {
            cumulative += c;
            let le = match self.bounds.get(i) {
                Some(b) => format!("{b:?}"),
                None => "+Inf".to_string(),
            };
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{le}\",{labels}}} {cumulative:?}.0"
            );
        }
        let _ = writeln!(out, "{name}_count{{{labels}}} {:?}.0", self.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {:?}", self.sum);
    }
}

/// Static facts shown in `vllm:cache_config_info`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CacheInfo {
    /// Tokens per block.
    pub block_size: u32,
    /// KV blocks per replica (0 when the profile has no KV model).
    pub num_gpu_blocks: u32,
    /// Whether the prefix cache is on.
    pub enable_prefix_caching: bool,
    /// `--gpu-memory-utilization`.
    pub gpu_memory_utilization: f64,
}

/// Everything `/metrics` reports about the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    /// `vllm:prompt_tokens_total`.
    pub prompt_tokens: u64,
    /// `vllm:generation_tokens_total`.
    pub generation_tokens: u64,
    /// `vllm:num_preemptions_total`.
    pub preemptions: u64,
    /// `vllm:prefix_cache_queries_total` (tokens looked up).
    pub prefix_queries: u64,
    /// `vllm:prefix_cache_hits_total` (tokens found).
    pub prefix_hits: u64,
    /// `vllm:request_success_total` (family `vllm:request_success`) by reason: length, stop, abort.
    pub finished: [u64; 3],
    /// Engine steps executed (`llmsweep_sim:steps_total`).
    pub steps: u64,
    /// `POST /reset_prefix_cache` calls.
    pub prefix_cache_resets: u64,
    /// `POST /reset_mm_cache` calls.
    pub mm_cache_resets: u64,
    /// `POST /reset_encoder_cache` calls.
    pub encoder_cache_resets: u64,
    /// `vllm:time_to_first_token_seconds`.
    pub ttft: Histogram,
    /// `vllm:inter_token_latency_seconds`.
    pub itl: Histogram,
    /// `vllm:e2e_request_latency_seconds`.
    pub e2e: Histogram,
    /// `vllm:request_queue_time_seconds`.
    pub queue: Histogram,
    /// `vllm:request_prefill_time_seconds`.
    pub prefill: Histogram,
    /// `vllm:request_decode_time_seconds`.
    pub decode: Histogram,
    /// `vllm:request_inference_time_seconds` (first scheduled → last token).
    pub inference: Histogram,
    /// `vllm:request_time_per_output_token_seconds`: each finished request's decode time
    /// over its tokens after the first.
    pub request_tpot: Histogram,
    /// `vllm:request_prompt_tokens`.
    pub request_prompt_tokens: Histogram,
    /// `vllm:request_generation_tokens`.
    pub request_generation_tokens: Histogram,
}

/// vLLM's `build_1_2_5_buckets(max_model_len)`: 1, 2, 5, 10, 20, 50, … up to
/// `max_model_len`, the bounds of the per-request token-count histograms.
pub fn token_buckets(max_model_len: u32) -> Vec<f64> {
    let mut bounds = Vec::new();
    let mut scale = 1u64;
    'outer: loop {
        for m in [1u64, 2, 5] {
            let v = m * scale;
            if v > u64::from(max_model_len) {
                break 'outer;
            }
            bounds.push(v as f64);
        }
        scale *= 10;
    }
    bounds
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Timings of one finished request, virtual seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FinishedTimes {
    /// Arrival → last token.
    pub e2e: f64,
    /// Ready in the engine → first scheduled.
    pub queue: f64,
    /// First scheduled → first token.
    pub prefill: f64,
    /// First token → last token.
    pub decode: f64,
    /// Prompt tokens.
    pub prompt_tokens: u32,
    /// Tokens generated.
    pub generated: u32,
}

impl Metrics {
    /// All zero, with token-count histograms up to 131,072 tokens.
    pub fn new() -> Self {
        Self::with_max_model_len(131_072)
    }

    /// All zero; the per-request token-count histograms end at `max_model_len`, as vLLM's.
    pub fn with_max_model_len(max_model_len: u32) -> Self {
        Self {
            prompt_tokens: 0,
            generation_tokens: 0,
            preemptions: 0,
            prefix_queries: 0,
            prefix_hits: 0,
            finished: [0; 3],
            steps: 0,
            prefix_cache_resets: 0,
            mm_cache_resets: 0,
            encoder_cache_resets: 0,
            ttft: Histogram::new(TTFT_BUCKETS),
            itl: Histogram::new(ITL_BUCKETS),
            e2e: Histogram::new(REQUEST_BUCKETS),
            queue: Histogram::new(REQUEST_BUCKETS),
            prefill: Histogram::new(REQUEST_BUCKETS),
            decode: Histogram::new(REQUEST_BUCKETS),
            inference: Histogram::new(REQUEST_BUCKETS),
            request_tpot: Histogram::new(ITL_BUCKETS),
            request_prompt_tokens: Histogram::with_bounds(token_buckets(max_model_len).into()),
            request_generation_tokens: Histogram::with_bounds(token_buckets(max_model_len).into()),
        }
    }

    /// A request's first token left the server `ttft` seconds after it arrived.
    pub fn first_token(&mut self, prompt_tokens: u32, ttft: f64) {
        self.prompt_tokens += u64::from(prompt_tokens);
        self.generation_tokens += 1;
        self.ttft.observe(ttft);
    }

    /// `n` more tokens of a request left the server, `gap` seconds after its previous ones.
    pub fn next_tokens(&mut self, n: u32, gap: f64) {
        self.generation_tokens += u64::from(n);
        // Tokens delivered together are `gap` then zero apart.
        self.itl.observe(gap);
        self.itl.observe_n(0.0, u64::from(n.saturating_sub(1)));
    }

    /// A request ended.
    pub fn finished(&mut self, reason: FinishReason, times: Option<FinishedTimes>) {
        let slot = match reason {
            FinishReason::Length => 0,
            FinishReason::Stop => 1,
            FinishReason::Abort => 2,
        };
        self.finished[slot] += 1;
        if let Some(t) = times {
            self.e2e.observe(t.e2e);
            self.queue.observe(t.queue);
            self.prefill.observe(t.prefill);
            self.decode.observe(t.decode);
            self.inference.observe(t.prefill + t.decode);
            // vLLM leaves out the first token, which the prefill produced.
            let tpot = if t.generated > 1 {
                t.decode / f64::from(t.generated - 1)
            } else {
                0.0
            };
            self.request_tpot.observe(tpot);
            self.request_prompt_tokens
                .observe(f64::from(t.prompt_tokens));
            self.request_generation_tokens
                .observe(f64::from(t.generated));
        }
    }

    /// Render `/metrics` in Prometheus text format.
    pub fn render(&self, model_name: &str, gauges: &Gauges, cache: &CacheInfo) -> String {
        let labels = format!("engine=\"0\",model_name=\"{}\"", escape_label(model_name));
        let mut out = String::with_capacity(16 * 1024);
        gauge(
            &mut out,
            "vllm:num_requests_running",
            "Number of requests in model execution batches.",
            &labels,
            gauges.running as f64,
        );
        gauge(
            &mut out,
            "vllm:num_requests_waiting",
            "Number of requests waiting to be processed.",
            &labels,
            gauges.waiting as f64,
        );
        gauge(
            &mut out,
            "vllm:kv_cache_usage_perc",
            "KV-cache usage. 1 means 100 percent usage.",
            &labels,
            gauges.kv_usage,
        );
        gauge(
            &mut out,
            "vllm:gpu_cache_usage_perc",
            "GPU KV-cache usage (older name). 1 means 100 percent usage.",
            &labels,
            gauges.kv_usage,
        );
        counter(
            &mut out,
            "vllm:num_preemptions",
            "Cumulative number of preemptions from the engine.",
            &labels,
            self.preemptions,
        );
        counter(
            &mut out,
            "vllm:prompt_tokens",
            "Number of prefill tokens processed.",
            &labels,
            self.prompt_tokens,
        );
        counter(
            &mut out,
            "vllm:generation_tokens",
            "Number of generation tokens processed.",
            &labels,
            self.generation_tokens,
        );
        counter(
            &mut out,
            "vllm:prefix_cache_queries",
            "Prefix cache queries, in terms of number of queried tokens.",
            &labels,
            self.prefix_queries,
        );
        counter(
            &mut out,
            "vllm:prefix_cache_hits",
            "Prefix cache hits, in terms of number of cached tokens.",
            &labels,
            self.prefix_hits,
        );
        let _ = writeln!(
            out,
            "# HELP vllm:request_success Count of successfully processed requests."
        );
        let _ = writeln!(out, "# TYPE vllm:request_success counter");
        for (reason, n) in ["length", "stop", "abort"].iter().zip(self.finished) {
            let _ = writeln!(
                out,
                "vllm:request_success_total{{{labels},finished_reason=\"{reason}\"}} {n:?}.0"
            );
        }
        self.ttft.render(
            &mut out,
            "vllm:time_to_first_token_seconds",
            "Histogram of time to first token in seconds.",
            &labels,
        );
        self.itl.render(
            &mut out,
            "vllm:inter_token_latency_seconds",
            "Histogram of inter-token latency in seconds.",
            &labels,
        );
        self.itl.render(
            &mut out,
            "vllm:time_per_output_token_seconds",
            "Histogram of time per output token in seconds (older name).",
            &labels,
        );
        self.request_tpot.render(
            &mut out,
            "vllm:request_time_per_output_token_seconds",
            "Histogram of time_per_output_token_seconds per request.",
            &labels,
        );
        self.e2e.render(
            &mut out,
            "vllm:e2e_request_latency_seconds",
            "Histogram of e2e request latency in seconds.",
            &labels,
        );
        self.queue.render(
            &mut out,
            "vllm:request_queue_time_seconds",
            "Histogram of time spent in WAITING phase for request.",
            &labels,
        );
        self.prefill.render(
            &mut out,
            "vllm:request_prefill_time_seconds",
            "Histogram of time spent in PREFILL phase for request.",
            &labels,
        );
        self.decode.render(
            &mut out,
            "vllm:request_decode_time_seconds",
            "Histogram of time spent in DECODE phase for request.",
            &labels,
        );
        self.inference.render(
            &mut out,
            "vllm:request_inference_time_seconds",
            "Histogram of time spent in RUNNING phase for request.",
            &labels,
        );
        self.request_prompt_tokens.render(
            &mut out,
            "vllm:request_prompt_tokens",
            "Number of prefill tokens processed.",
            &labels,
        );
        self.request_generation_tokens.render(
            &mut out,
            "vllm:request_generation_tokens",
            "Number of generation tokens processed.",
            &labels,
        );
        let _ = writeln!(
            out,
            "# HELP vllm:cache_config_info Information of the LLMEngine CacheConfig"
        );
        let _ = writeln!(out, "# TYPE vllm:cache_config_info gauge");
        let _ = writeln!(
            out,
            "vllm:cache_config_info{{block_size=\"{}\",enable_prefix_caching=\"{}\",engine=\"0\",gpu_memory_utilization=\"{}\",num_gpu_blocks=\"{}\"}} 1.0",
            cache.block_size,
            if cache.enable_prefix_caching {
                "True"
            } else {
                "False"
            },
            cache.gpu_memory_utilization,
            cache.num_gpu_blocks,
        );
        counter(
            &mut out,
            "llmsweep_sim:steps",
            "Engine steps simulated.",
            &labels,
            self.steps,
        );
        counter(
            &mut out,
            "llmsweep_sim:prefix_cache_resets",
            "POST /reset_prefix_cache calls.",
            &labels,
            self.prefix_cache_resets,
        );
        counter(
            &mut out,
            "llmsweep_sim:mm_cache_resets",
            "POST /reset_mm_cache calls.",
            &labels,
            self.mm_cache_resets,
        );
        counter(
            &mut out,
            "llmsweep_sim:encoder_cache_resets",
            "POST /reset_encoder_cache calls.",
            &labels,
            self.encoder_cache_resets,
        );
        out
    }
}

fn gauge(out: &mut String, name: &str, help: &str, labels: &str, value: f64) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
    let _ = writeln!(out, "{name}{{{labels}}} {value:?}");
}

/// A counter as prometheus_client writes it: HELP and TYPE name the family (`name`), the
/// sample carries the `_total` suffix.
fn counter(out: &mut String, name: &str, help: &str, labels: &str, value: u64) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} counter");
    let _ = writeln!(out, "{name}_total{{{labels}}} {value:?}.0");
}

/// Escape a Prometheus label value.
pub fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_with_le_bounds() {
        let mut h = Histogram::new(&[0.1, 1.0]);
        h.observe(0.1); // on the bound: counts in le="0.1"
        h.observe(0.5);
        h.observe(5.0);
        let mut out = String::new();
        h.render(&mut out, "x", "help", "a=\"b\"");
        assert!(out.contains("x_bucket{le=\"0.1\",a=\"b\"} 1.0\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"1.0\",a=\"b\"} 2.0\n"));
        assert!(out.contains("x_bucket{le=\"+Inf\",a=\"b\"} 3.0\n"));
        assert!(out.contains("x_count{a=\"b\"} 3.0\n"));
        assert_eq!(h.quantile_bound(0.5), Some(1.0));
        assert_eq!(h.quantile_bound(1.0), Some(f64::INFINITY));
    }

    #[test]
    fn renders_vllm_names() {
        let mut m = Metrics::new();
        m.first_token(10, 0.02);
        m.next_tokens(3, 0.01);
        m.finished(
            FinishReason::Length,
            Some(FinishedTimes {
                e2e: 0.05,
                queue: 0.0,
                prefill: 0.02,
                decode: 0.03,
                prompt_tokens: 10,
                generated: 4,
            }),
        );
        let gauges = Gauges {
            running: 1,
            waiting: 2,
            kv_usage: 0.25,
        };
        let cache = CacheInfo {
            block_size: 16,
            num_gpu_blocks: 100,
            enable_prefix_caching: true,
            gpu_memory_utilization: 0.9,
        };
        let text = m.render("m\"x", &gauges, &cache);
        for needle in [
            "vllm:num_requests_running{engine=\"0\",model_name=\"m\\\"x\"} 1.0",
            "vllm:num_requests_waiting{engine=\"0\",model_name=\"m\\\"x\"} 2.0",
            "vllm:kv_cache_usage_perc{engine=\"0\",model_name=\"m\\\"x\"} 0.25",
            "vllm:prompt_tokens_total{engine=\"0\",model_name=\"m\\\"x\"} 10.0",
            "vllm:generation_tokens_total{engine=\"0\",model_name=\"m\\\"x\"} 4.0",
            "vllm:inter_token_latency_seconds_count{engine=\"0\",model_name=\"m\\\"x\"} 3.0",
            "vllm:e2e_request_latency_seconds_count",
            "finished_reason=\"length\"} 1.0",
            "num_gpu_blocks=\"100\"",
            "llmsweep_sim:prefix_cache_resets_total",
            // One request: 0.03 s of decode over the 3 tokens after the first.
            "vllm:request_time_per_output_token_seconds_bucket{le=\"0.01\",engine=\"0\",model_name=\"m\\\"x\"} 1.0",
            "vllm:request_time_per_output_token_seconds_count{engine=\"0\",model_name=\"m\\\"x\"} 1.0",
            "vllm:request_inference_time_seconds_sum{engine=\"0\",model_name=\"m\\\"x\"} 0.05",
            "vllm:request_prompt_tokens_bucket{le=\"10.0\",engine=\"0\",model_name=\"m\\\"x\"} 1.0",
            "vllm:request_generation_tokens_bucket{le=\"2.0\",engine=\"0\",model_name=\"m\\\"x\"} 0.0",
            "vllm:request_generation_tokens_bucket{le=\"5.0\",engine=\"0\",model_name=\"m\\\"x\"} 1.0",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
    }

    #[test]
    fn token_buckets_are_vllms_1_2_5_series() {
        assert_eq!(
            token_buckets(4096),
            [
                1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0
            ]
        );
        assert_eq!(token_buckets(5000).last(), Some(&5000.0));
    }

    #[test]
    fn counters_are_typed_by_family_name_as_prometheus_client_does() {
        let mut m = Metrics::new();
        m.first_token(10, 0.02);
        let cache = CacheInfo {
            block_size: 16,
            num_gpu_blocks: 100,
            enable_prefix_caching: true,
            gpu_memory_utilization: 0.9,
        };
        let gauges = Gauges {
            running: 0,
            waiting: 0,
            kv_usage: 0.0,
        };
        let text = m.render("m", &gauges, &cache);
        let mut counters = 0;
        for (i, line) in text.lines().enumerate() {
            let Some(family) = line
                .strip_prefix("# TYPE ")
                .and_then(|l| l.strip_suffix(" counter"))
            else {
                continue;
            };
            counters += 1;
            assert!(!family.ends_with("_total"), "{line}");
            let help = text.lines().nth(i - 1).unwrap();
            assert!(help.starts_with(&format!("# HELP {family} ")), "{help}");
            let sample = text.lines().nth(i + 1).unwrap();
            assert!(
                sample.starts_with(&format!("{family}_total{{")),
                "{family}: {sample}"
            );
        }
        assert!(counters >= 6, "{counters} counters in\n{text}");
        assert!(text.contains("# TYPE vllm:prompt_tokens counter\nvllm:prompt_tokens_total{"));
        assert!(text.contains("# TYPE vllm:request_success counter\n"));
    }
}
