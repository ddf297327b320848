//! The result of `llmsweep bench startup`: vLLM's JSON keys where they mean the same thing,
//! ours beside them, and vLLM's console summary.
//!
//! For each phase (cold, then warm) and each metric, three keys in vLLM's order:
//! `avg_{phase}_{metric}_time`, `{phase}_{metric}_times`, `{phase}_{metric}_percentiles`
//! (percentiles 10/25/50/75/90/99, numpy-linear, keyed by the strings `"10"`, `"25"`, …).
//! Metrics, all in seconds from the moment the server process was started:
//!
//! | metric          | vLLM's? | meaning |
//! |-----------------|---------|---------|
//! | `startup`       | yes     | until `GET /health` answers 200 (vLLM: until the engine is built) |
//! | `compilation`   | yes     | torch.compile time from the server's log, else null |
//! | `port_open`     | ours    | until the port accepts TCP connections |
//! | `first_token`   | ours    | until the first token of one short streamed request |
//! | `graph_capture` | ours    | CUDA graph capture time from the server's log, else null |
//!
//! A metric no iteration of a phase has (e.g. no compilation line in the log) is null in
//! all three keys; an iteration that lacks it is a null in the list.

use serde_json::{Map, Value};

use super::compile_log::CompileTimes;
use super::stats::{mean, percentiles};

/// One timed start-up.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct IterationTimes {
    /// Process start → the port accepts connections, seconds.
    pub port_open_s: f64,
    /// Process start → `GET /health` answers 200, seconds.
    pub startup_s: f64,
    /// Process start → the first streamed token, seconds (`None` when not measured).
    pub first_token_s: Option<f64>,
    /// What the server's log said.
    pub compile: CompileTimes,
}

/// One metric of the result.
struct Metric {
    /// The key part: `avg_cold_{suffix}_time`.
    suffix: &'static str,
    /// For the console: `Avg {display, lowercased}`, `{display} percentiles:`.
    display: &'static str,
    value: fn(&IterationTimes) -> Option<f64>,
}

/// vLLM's metrics first, in vLLM's order, then ours.
const METRICS: [Metric; 5] = [
    Metric {
        suffix: "startup",
        display: "Startup time",
        value: |t| Some(t.startup_s),
    },
    Metric {
        suffix: "compilation",
        display: "Compilation time",
        value: |t| t.compile.compilation_s,
    },
    Metric {
        suffix: "port_open",
        display: "Port open time",
        value: |t| Some(t.port_open_s),
    },
    Metric {
        suffix: "first_token",
        display: "First token time",
        value: |t| t.first_token_s,
    },
    Metric {
        suffix: "graph_capture",
        display: "Graph capture time",
        value: |t| t.compile.graph_capture_s,
    },
];

/// A metric over one phase's iterations.
struct PhaseMetric {
    /// One value per iteration (`None` where the iteration lacks it); `None` when no
    /// iteration has it.
    values: Option<Vec<Option<f64>>>,
    avg: Option<f64>,
    percentiles: Option<Vec<(u32, f64)>>,
}

fn phase_metric(metric: &Metric, iterations: &[IterationTimes]) -> PhaseMetric {
    let values: Vec<Option<f64>> = iterations.iter().map(metric.value).collect();
    let present: Vec<f64> = values.iter().flatten().copied().collect();
    if present.is_empty() && !iterations.is_empty() {
        return PhaseMetric {
            values: None,
            avg: None,
            percentiles: None,
        };
    }
    PhaseMetric {
        values: Some(values),
        avg: mean(&present),
        percentiles: percentiles(&present),
    }
}

fn number(v: Option<f64>) -> Value {
    v.map_or(Value::Null, Value::from)
}

/// The result object: every metric of the cold, then the warm phase. The caller appends
/// its own descriptive keys.
pub fn result_json(cold: &[IterationTimes], warm: &[IterationTimes]) -> Map<String, Value> {
    let mut out = Map::new();
    for (phase, iterations) in [("cold", cold), ("warm", warm)] {
        for metric in &METRICS {
            let m = phase_metric(metric, iterations);
            let key = format!("{phase}_{}", metric.suffix);
            out.insert(format!("avg_{key}_time"), number(m.avg));
            out.insert(
                format!("{key}_times"),
                m.values.map_or(Value::Null, |vs| {
                    Value::Array(vs.into_iter().map(number).collect())
                }),
            );
            out.insert(
                format!("{key}_percentiles"),
                m.percentiles.map_or(Value::Null, |ps| {
                    Value::Object(
                        ps.into_iter()
                            .map(|(p, v)| (p.to_string(), Value::from(v)))
                            .collect(),
                    )
                }),
            );
        }
    }
    out
}

/// vLLM's console summary, with our metrics after vLLM's.
pub fn console_summary(cold: &[IterationTimes], warm: &[IterationTimes]) -> String {
    let rule = "=".repeat(60);
    let mut out = format!("\n{rule}\nSTARTUP TIME BENCHMARK RESULTS\n{rule}\n");
    out.push_str(
        "Seconds from process start until: startup = GET /health answers 200, port open = the port accepts connections, first token = the first token of one streamed request.\n",
    );
    for (title, iterations) in [("COLD STARTUP", cold), ("WARM STARTUP", warm)] {
        out.push_str(&format!("\n{title}:\n"));
        if iterations.is_empty() {
            out.push_str("(no iterations)\n");
            continue;
        }
        let metrics: Vec<(&Metric, PhaseMetric)> = METRICS
            .iter()
            .map(|m| (m, phase_metric(m, iterations)))
            .collect();
        for (metric, m) in &metrics {
            let avg = match m.avg {
                Some(v) => format!("{v:.2} seconds"),
                None => "n/a (not measured or not in the server's log)".into(),
            };
            out.push_str(&format!("Avg {}: {avg}\n", metric.display.to_lowercase()));
        }
        for (metric, m) in &metrics {
            if let Some(ps) = &m.percentiles {
                out.push_str(&format!("{} percentiles:\n", metric.display));
                for (p, v) in ps {
                    out.push_str(&format!("  {p}%: {v:.2} seconds\n"));
                }
            }
        }
    }
    out.push_str(&rule);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn it(port: f64, ready: f64, token: Option<f64>, compile: Option<f64>) -> IterationTimes {
        IterationTimes {
            port_open_s: port,
            startup_s: ready,
            first_token_s: token,
            compile: CompileTimes {
                compilation_s: compile,
                graph_capture_s: None,
            },
        }
    }

    #[test]
    fn keys_come_in_vllms_order_then_ours() {
        let cold = [it(0.1, 43.1, Some(43.3), Some(18.9)); 1];
        let warm = [it(0.1, 21.5, Some(21.6), Some(3.2)); 1];
        let keys: Vec<String> = result_json(&cold, &warm).keys().cloned().collect();
        let mut want = Vec::new();
        for phase in ["cold", "warm"] {
            for m in [
                "startup",
                "compilation",
                "port_open",
                "first_token",
                "graph_capture",
            ] {
                want.push(format!("avg_{phase}_{m}_time"));
                want.push(format!("{phase}_{m}_times"));
                want.push(format!("{phase}_{m}_percentiles"));
            }
        }
        assert_eq!(keys, want);
        // vLLM's twelve keys keep vLLM's relative order.
        let vllm: Vec<&String> = keys
            .iter()
            .filter(|k| k.contains("startup") || k.contains("compilation"))
            .collect();
        assert_eq!(
            vllm,
            [
                "avg_cold_startup_time",
                "cold_startup_times",
                "cold_startup_percentiles",
                "avg_cold_compilation_time",
                "cold_compilation_times",
                "cold_compilation_percentiles",
                "avg_warm_startup_time",
                "warm_startup_times",
                "warm_startup_percentiles",
                "avg_warm_compilation_time",
                "warm_compilation_times",
                "warm_compilation_percentiles"
            ]
        );
    }

    #[test]
    fn values_match_vllms_example() {
        let cold: Vec<IterationTimes> = [43.1, 40.9, 41.1]
            .iter()
            .map(|s| it(1.0, *s, None, None))
            .collect();
        let doc = result_json(&cold, &[]);
        assert_eq!(doc["avg_cold_startup_time"], 41.699999999999996);
        assert_eq!(
            doc["cold_startup_times"],
            serde_json::json!([43.1, 40.9, 41.1])
        );
        assert_eq!(
            serde_json::to_string(&doc["cold_startup_percentiles"]).unwrap(),
            r#"{"10":40.94,"25":41.0,"50":41.1,"75":42.1,"90":42.7,"99":43.06}"#
        );
        // Nothing in the log, not measured: null, not 0.
        for k in [
            "avg_cold_compilation_time",
            "cold_compilation_times",
            "cold_compilation_percentiles",
            "cold_first_token_times",
            "cold_graph_capture_percentiles",
        ] {
            assert!(doc[k].is_null(), "{k}: {}", doc[k]);
        }
        // No warm iterations: empty list, no statistics.
        assert_eq!(doc["warm_startup_times"], serde_json::json!([]));
        assert!(doc["avg_warm_startup_time"].is_null());
        assert_eq!(doc["warm_compilation_times"], serde_json::json!([]));
    }

    #[test]
    fn an_iteration_without_a_value_is_a_null_in_the_list() {
        let cold = [
            it(0.1, 1.0, Some(1.5), Some(4.0)),
            it(0.1, 1.0, Some(1.5), None),
        ];
        let doc = result_json(&cold, &[]);
        assert_eq!(
            doc["cold_compilation_times"],
            serde_json::json!([4.0, null])
        );
        assert_eq!(doc["avg_cold_compilation_time"], 4.0);
    }

    #[test]
    fn console_summary_looks_like_vllms() {
        let cold = [it(0.5, 2.0, Some(2.5), Some(1.25))];
        let text = console_summary(&cold, &[]);
        assert!(text.contains("STARTUP TIME BENCHMARK RESULTS"), "{text}");
        assert!(text.contains("\nCOLD STARTUP:\nAvg startup time: 2.00 seconds\nAvg compilation time: 1.25 seconds\n"), "{text}");
        assert!(
            text.contains("Startup time percentiles:\n  10%: 2.00 seconds\n"),
            "{text}"
        );
        assert!(text.contains("Avg graph capture time: n/a"), "{text}");
        assert!(text.contains("WARM STARTUP:\n(no iterations)"), "{text}");
    }
}
