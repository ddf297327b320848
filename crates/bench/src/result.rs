//! The result object: vLLM's keys in vLLM's order (vllm-bench.md §1), then llmsweep's own
//! keys. Naming and writing the file is [`crate::result_file`].

use serde_json::{Map, Value, json};

use crate::metrics::{Metrics, RequestRecord, summary_ms};
use crate::pyjson::python_float_repr;
use crate::schedule::RampStrategy;
use crate::spec_decode::SpecDecodeStats;
use crate::stats;

/// Setup keys written before the measurements (vLLM's `main_async`).
#[derive(Debug, Clone, PartialEq)]
pub struct RunHeader {
    /// `YYYYMMDD-HHMMSS`, local time at the end of the run.
    pub date: String,
    /// `--backend`.
    pub backend: String,
    /// `--label`.
    pub label: Option<String>,
    /// `--model`, or the `root` of the server's first model.
    pub model_id: String,
    /// `--tokenizer`, else the model id; `None` with `--skip-tokenizer-init`.
    pub tokenizer_id: Option<String>,
    /// `--num-prompts` as given.
    pub num_prompts: i64,
    /// `--metadata KEY=VALUE` pairs, in order.
    pub metadata: Vec<(String, String)>,
    /// `--request-rate` (infinite → `"inf"`).
    pub request_rate: f64,
    /// `--burstiness`.
    pub burstiness: f64,
    /// `--max-concurrency`.
    pub max_concurrency: Option<u64>,
    /// `--ramp-up-strategy` with its start and end rates.
    pub ramp: Option<(RampStrategy, u64, u64)>,
}

/// Which statistics to write.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsSelection {
    /// `--percentile-metrics`, split on commas.
    pub metrics: Vec<String>,
    /// `--metric-percentiles`.
    pub percentiles: Vec<f64>,
    /// TTFT/TPOT/ITL are written only when a tokenizer is in use (not with
    /// `--skip-tokenizer-init`), as in vLLM.
    pub token_metrics: bool,
}

/// What the client measured about itself.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClientHealth {
    /// How late runtime timers fired, seconds (a saturation probe).
    pub wakeup_lags: Vec<f64>,
    /// The verdict of [`crate::metrics::is_client_bound`].
    pub client_bound: bool,
}

/// Everything the result file is built from.
pub struct ResultInputs<'a> {
    /// Setup keys.
    pub header: &'a RunHeader,
    /// Timed-run duration, seconds.
    pub duration_s: f64,
    /// Per-request records, in dispatch order.
    pub records: &'a [RequestRecord],
    /// Aggregates.
    pub metrics: &'a Metrics,
    /// Statistics to write.
    pub selection: &'a StatsSelection,
    /// `--save-detailed`.
    pub save_detailed: bool,
    /// `rps_change_events` (ramp-up only): `(rps, ISO timestamp)`.
    pub rps_change_events: Option<Vec<(u64, String)>>,
    /// Speculative-decoding statistics of the run, when the server reports them.
    pub spec_decode: Option<&'a SpecDecodeStats>,
    /// Client self-measurements.
    pub health: &'a ClientHealth,
}

/// The result object, keys in order.
pub fn build(inputs: &ResultInputs<'_>) -> Map<String, Value> {
    let h = inputs.header;
    let m = inputs.metrics;
    let mut out = Map::new();
    out.insert("date".into(), json!(h.date));
    out.insert("endpoint_type".into(), json!(h.backend));
    out.insert("backend".into(), json!(h.backend));
    out.insert("label".into(), json!(h.label));
    out.insert("model_id".into(), json!(h.model_id));
    out.insert("tokenizer_id".into(), json!(h.tokenizer_id));
    out.insert("num_prompts".into(), json!(h.num_prompts));
    for (k, v) in &h.metadata {
        out.insert(k.clone(), json!(v));
    }
    out.insert(
        "request_rate".into(),
        if h.request_rate.is_infinite() {
            json!("inf")
        } else {
            float(h.request_rate)
        },
    );
    // `--burstiness inf` is written as Python's bare `Infinity`, as vLLM's json.dump does.
    out.insert(
        "burstiness".into(),
        crate::pyjson::float_value(h.burstiness),
    );
    out.insert("max_concurrency".into(), json!(h.max_concurrency));
    if let Some((strategy, start, end)) = h.ramp {
        out.insert("ramp_up_strategy".into(), json!(strategy.as_str()));
        out.insert("ramp_up_start_rps".into(), json!(start));
        out.insert("ramp_up_end_rps".into(), json!(end));
    }

    let records = inputs.records;
    let detailed = inputs.save_detailed;
    out.insert("duration".into(), float(inputs.duration_s));
    out.insert("completed".into(), json!(m.completed));
    out.insert("failed".into(), json!(m.failed));
    out.insert("total_input_tokens".into(), json!(m.total_input));
    out.insert("total_output_tokens".into(), json!(m.total_output));
    out.insert("request_throughput".into(), float(m.request_throughput));
    out.insert(
        "request_goodput".into(),
        m.request_goodput.map_or(Value::Null, float),
    );
    out.insert("output_throughput".into(), float(m.output_throughput));
    out.insert(
        "total_token_throughput".into(),
        float(m.total_token_throughput),
    );
    if detailed {
        out.insert(
            "input_lens".into(),
            json!(records.iter().map(|r| r.prompt_len).collect::<Vec<_>>()),
        );
        out.insert("output_lens".into(), json!(m.output_lens));
        out.insert("ttfts".into(), floats(records.iter().map(|r| r.ttft_s)));
        out.insert(
            "itls".into(),
            Value::Array(
                records
                    .iter()
                    .map(|r| floats(r.itl_s.iter().copied()))
                    .collect(),
            ),
        );
    }
    out.insert(
        "latencies".into(),
        floats(records.iter().map(|r| r.latency_s)),
    );
    if detailed {
        out.insert(
            "start_times".into(),
            floats(records.iter().map(|r| r.start_s)),
        );
    }
    out.insert(
        "queue_times".into(),
        floats(records.iter().map(|r| r.start_s - r.dispatched_s)),
    );
    if detailed {
        out.insert(
            "generated_texts".into(),
            json!(
                records
                    .iter()
                    .map(|r| r.generated_text.as_str())
                    .collect::<Vec<_>>()
            ),
        );
        out.insert(
            "errors".into(),
            json!(records.iter().map(|r| r.error.as_str()).collect::<Vec<_>>()),
        );
    }
    out.insert(
        "max_output_tokens_per_s".into(),
        float(m.max_output_tokens_per_s),
    );
    out.insert(
        "max_concurrent_requests".into(),
        json!(m.max_concurrent_requests),
    );
    out.insert("rtfx".into(), float(0.0));
    if let Some(events) = &inputs.rps_change_events {
        let list: Vec<Value> = events
            .iter()
            .map(|(rps, ts)| json!({"rps": rps, "timestamp": ts}))
            .collect();
        out.insert("rps_change_events".into(), Value::Array(list));
    }
    if let Some(sd) = inputs.spec_decode {
        out.insert(
            "spec_decode_acceptance_rate".into(),
            float(sd.acceptance_rate),
        );
        out.insert(
            "spec_decode_acceptance_length".into(),
            float(sd.acceptance_length),
        );
        out.insert("spec_decode_num_drafts".into(), json!(sd.num_drafts));
        out.insert("spec_decode_draft_tokens".into(), json!(sd.draft_tokens));
        out.insert(
            "spec_decode_accepted_tokens".into(),
            json!(sd.accepted_tokens),
        );
        out.insert(
            "spec_decode_per_position_acceptance_rates".into(),
            floats(sd.per_position_acceptance_rates.iter().copied()),
        );
    }

    let sel = inputs.selection;
    let mut stat = |name: &str, values: &[f64]| {
        if sel.metrics.iter().any(|s| s == name) {
            insert_summary(&mut out, name, values, &sel.percentiles);
        }
    };
    if sel.token_metrics {
        stat("ttft", &m.ttfts);
        stat("tpot", &m.tpots);
        stat("itl", &m.itls);
    }
    stat("e2el", &m.e2els);
    if h.max_concurrency.is_some() {
        stat("client_queue_time", &m.client_queue_times);
        if h.request_rate.is_finite() {
            stat("e2el_including_client_queue", &m.e2els_including_queue);
        }
    }

    // llmsweep's own keys: never a vLLM name.
    insert_summary(
        &mut out,
        "ttft_from_schedule",
        &m.ttfts_from_schedule,
        &sel.percentiles,
    );
    insert_summary(
        &mut out,
        "e2el_from_schedule",
        &m.e2els_from_schedule,
        &sel.percentiles,
    );
    insert_lag(&mut out, "send_lag", &m.send_lags);
    insert_lag(&mut out, "dispatch_lag", &m.dispatch_lags);
    insert_lag(&mut out, "wakeup_lag", &inputs.health.wakeup_lags);
    out.insert(
        "itl_same_read_fraction".into(),
        float(m.itl_same_read_fraction),
    );
    out.insert("client_bound".into(), json!(inputs.health.client_bound));
    out
}

/// vLLM's `p_word`: `99` for 99.0, `99.9` for 99.9.
pub fn percentile_word(p: f64) -> String {
    if p.fract() == 0.0 && p.abs() < 1e15 {
        format!("{}", p as i64)
    } else {
        python_float_repr(p)
    }
}

fn insert_summary(out: &mut Map<String, Value>, name: &str, values: &[f64], percentiles: &[f64]) {
    let s = summary_ms(values, percentiles);
    out.insert(format!("mean_{name}_ms"), float(s.mean));
    out.insert(format!("median_{name}_ms"), float(s.median));
    out.insert(format!("std_{name}_ms"), float(s.std));
    for (p, v) in s.percentiles {
        out.insert(format!("p{}_{name}_ms", percentile_word(p)), float(v));
    }
}

fn insert_lag(out: &mut Map<String, Value>, name: &str, values: &[f64]) {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    out.insert(
        format!("mean_{name}_ms"),
        float(stats::mean(values) * 1000.0),
    );
    out.insert(
        format!("p99_{name}_ms"),
        float(stats::percentile_sorted(&sorted, 99.0) * 1000.0),
    );
    out.insert(
        format!("max_{name}_ms"),
        float(sorted.last().copied().unwrap_or(0.0) * 1000.0),
    );
}

/// A float that stays a float in the output (`1.0`, not `1`); non-finite becomes null.
fn float(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

fn floats(xs: impl Iterator<Item = f64>) -> Value {
    Value::Array(xs.map(float).collect())
}

/// A header like the vLLM fixture's, for tests here and in [`crate::result_file`].
#[cfg(test)]
pub(crate) fn sample_header() -> RunHeader {
    RunHeader {
        date: "20261127-214701".into(),
        backend: "openai".into(),
        label: None,
        model_id: "HuggingFaceTB/SmolLM2-135M-Instruct".into(),
        tokenizer_id: Some("tok".into()),
        num_prompts: 2,
        metadata: vec![],
        request_rate: f64::INFINITY,
        burstiness: 1.0,
        max_concurrency: Some(4),
        ramp: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::compute;

    fn header() -> RunHeader {
        sample_header()
    }

    fn record(success: bool) -> RequestRecord {
        RequestRecord {
            success,
            ttft_s: 0.05,
            latency_s: if success { 0.25 } else { 0.0 },
            itl_s: vec![0.1, 0.1],
            usage_output_tokens: Some(3),
            prompt_len: 7,
            error: if success {
                String::new()
            } else {
                "HTTP 500".into()
            },
            ..Default::default()
        }
    }

    fn build_with(
        h: &RunHeader,
        detailed: bool,
        metrics: &[&str],
        percentiles: &[f64],
    ) -> Map<String, Value> {
        let records = vec![record(true), record(false)];
        let m = compute(&records, 1.0, &[], None);
        let sel = StatsSelection {
            metrics: metrics.iter().map(|s| s.to_string()).collect(),
            percentiles: percentiles.to_vec(),
            token_metrics: true,
        };
        build(&ResultInputs {
            header: h,
            duration_s: 1.0,
            records: &records,
            metrics: &m,
            selection: &sel,
            save_detailed: detailed,
            rps_change_events: None,
            spec_decode: None,
            health: &ClientHealth::default(),
        })
    }

    /// The keys of a real `vllm bench serve` 0.33.0 file (`--percentile-metrics
    /// ttft,tpot,itl,e2el`, max concurrency 4, infinite rate), in its order.
    fn vllm_keys() -> Vec<String> {
        let file: Map<String, Value> =
            serde_json::from_str(include_str!("../tests/fixtures/vllm-0.33.0-result.json"))
                .unwrap();
        file.keys().cloned().collect()
    }

    #[test]
    fn key_order_matches_vllm_then_ours() {
        let out = build_with(&header(), false, &["ttft", "tpot", "itl", "e2el"], &[99.0]);
        let keys: Vec<String> = out.keys().cloned().collect();
        let vllm = vllm_keys();
        assert_eq!(keys[..vllm.len()], vllm[..]);
        assert_eq!(keys.last().map(String::as_str), Some("client_bound"));
        assert_eq!(out["request_rate"], json!("inf"));
        assert_eq!(out["request_goodput"], Value::Null);
    }

    #[test]
    fn infinite_burstiness_is_written_as_python_infinity() {
        let inf = RunHeader {
            burstiness: f64::INFINITY,
            ..header()
        };
        let out = build_with(&inf, false, &["ttft"], &[99.0]);
        assert_eq!(
            crate::pyjson::as_float(&out["burstiness"]),
            Some(f64::INFINITY)
        );
        let text = crate::pyjson::to_python_json(&Value::Object(out));
        assert!(
            text.contains(r#""request_rate": "inf", "burstiness": Infinity, "#),
            "{text}"
        );
        let finite = build_with(&header(), false, &["ttft"], &[99.0]);
        assert_eq!(finite["burstiness"], json!(1.0));
    }

    #[test]
    fn detailed_arrays_sit_where_vllm_puts_them() {
        let out = build_with(&header(), true, &["e2el"], &[50.0, 99.9]);
        let keys: Vec<&str> = out.keys().map(String::as_str).collect();
        let pos = |k: &str| keys.iter().position(|x| *x == k).unwrap();
        let order = [
            "total_token_throughput",
            "input_lens",
            "output_lens",
            "ttfts",
            "itls",
            "latencies",
            "start_times",
            "queue_times",
            "generated_texts",
            "errors",
            "max_output_tokens_per_s",
        ];
        assert!(order.windows(2).all(|w| pos(w[0]) < pos(w[1])), "{keys:?}");
        assert!(!out.contains_key("mean_ttft_ms"));
        assert!(out.contains_key("p50_e2el_ms") && out.contains_key("p99.9_e2el_ms"));
        assert_eq!(out["errors"], json!(["", "HTTP 500"]));
        assert_eq!(out["output_lens"], json!([3, 0]));
    }

    #[test]
    fn queue_metrics_need_max_concurrency_and_finite_rate() {
        let all = ["e2el", "client_queue_time", "e2el_including_client_queue"];
        let inf = build_with(&header(), false, &all, &[99.0]);
        assert!(
            inf.contains_key("mean_client_queue_time_ms")
                && !inf.contains_key("mean_e2el_including_client_queue_ms")
        );
        let finite = build_with(
            &RunHeader {
                request_rate: 5.0,
                ..header()
            },
            false,
            &all,
            &[99.0],
        );
        assert!(finite.contains_key("p99_e2el_including_client_queue_ms"));
        assert_eq!(finite["request_rate"], json!(5.0));
        let unlimited = build_with(
            &RunHeader {
                max_concurrency: None,
                ..header()
            },
            false,
            &all,
            &[99.0],
        );
        assert!(!unlimited.contains_key("mean_client_queue_time_ms"));
    }

    #[test]
    fn metadata_and_ramp_keys() {
        let h = RunHeader {
            metadata: vec![("tp".into(), "1".into()), ("duration".into(), "x".into())],
            ramp: Some((RampStrategy::Linear, 1, 5)),
            ..header()
        };
        let out = build_with(&h, false, &[], &[99.0]);
        let keys: Vec<&str> = out.keys().map(String::as_str).collect();
        assert_eq!(
            &keys[6..14],
            &[
                "num_prompts",
                "tp",
                "duration",
                "request_rate",
                "burstiness",
                "max_concurrency",
                "ramp_up_strategy",
                "ramp_up_start_rps"
            ]
        );
        assert_eq!(
            out["duration"],
            json!(1.0),
            "the measured value wins, in the metadata's position (Python dict merge)"
        );
    }

    #[test]
    fn no_extra_key_clashes_with_a_vllm_name() {
        let out = build_with(&header(), true, &["ttft", "tpot", "itl", "e2el"], &[99.0]);
        let ours: Vec<&String> = out
            .keys()
            .skip_while(|k| *k != "mean_ttft_from_schedule_ms")
            .collect();
        let vllm_metrics = crate::config::PERCENTILE_METRICS;
        for k in ours {
            assert!(
                !vllm_metrics
                    .iter()
                    .any(|m| k.ends_with(&format!("_{m}_ms"))),
                "{k}"
            );
        }
    }

    #[test]
    fn percentile_words() {
        assert_eq!(percentile_word(99.0), "99");
        assert_eq!(percentile_word(99.9), "99.9");
        assert_eq!(percentile_word(50.0), "50");
        assert_eq!(percentile_word(0.5), "0.5");
    }
}
