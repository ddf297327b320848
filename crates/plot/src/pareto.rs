//! The Pareto chart of `llmsweep plot-pareto`: each run's output throughput per user
//! (x, tokens/s/user) against per GPU (y, tokens/s/GPU), and the runs no other run beats
//! on both. Pure: no drawing, no files.
//!
//! - Users: the first of `--user-count-var` (default `max_concurrency`), `request_rate`,
//!   `max_concurrent_requests` whose value is a number > 0 (each key also tried with
//!   `_`/`-` swapped). As in vLLM, `request_rate` `"inf"` (all requests at once) counts:
//!   infinitely many users, so the run sits at 0 tokens/s/user. Runs with none are
//!   skipped and counted.
//! - A run whose throughput is NaN is left out and counted (vLLM drops it too).
//! - GPUs: `--gpu-count-var` if given and > 0, else tensor × pipeline × data parallel
//!   size (`tensor_parallel_size`/`tp`, `pipeline_parallel_size`/`pp`,
//!   `data_parallel_size`/`dp`; a missing one counts 1).
//! - Frontier (vLLM's rule): sort by x then y, both descending; keep a run when its y is
//!   at least the best y kept so far (less 1e-9).

use llmsweep_core::pyfmt::py_str;
use llmsweep_core::record::{Record, as_number};
use serde::Serialize;
use serde_json::Value;

use crate::error::PlotError;
use crate::scale::format_value;
use crate::table::Table;
use crate::units::axis_title;

/// How to count users and GPUs, and what to write beside frontier points.
#[derive(Debug, Clone)]
pub struct ParetoSpec {
    /// The key holding the user count, tried before `request_rate` and
    /// `max_concurrent_requests`.
    pub user_count_var: String,
    /// The key holding the GPU count, if any.
    pub gpu_count_var: Option<String>,
    /// Keys written beside each frontier point (`gpu_count` and `user_count` are the
    /// derived counts).
    pub label_by: Vec<String>,
}

impl Default for ParetoSpec {
    fn default() -> Self {
        ParetoSpec {
            user_count_var: "max_concurrency".into(),
            gpu_count_var: None,
            label_by: vec!["max_concurrency".into(), "gpu_count".into()],
        }
    }
}

/// One run on the chart.
#[derive(Debug, Clone, Serialize)]
pub struct ParetoPoint {
    /// Output tokens/s per user.
    pub x: f64,
    /// Output tokens/s per GPU.
    pub y: f64,
    /// Users the run was measured with.
    pub user_count: f64,
    /// GPUs the server used.
    pub gpu_count: f64,
    /// `k=v` lines for the `--label-by` keys the run has.
    pub label: Vec<String>,
    /// Which folder the run came from (its `summary.json`'s folder name).
    pub combination: String,
}

/// The whole chart.
#[derive(Debug, Clone, Serialize)]
pub struct ParetoChart {
    /// Main title.
    pub title: String,
    /// What users and GPUs were counted from.
    pub subtitle: String,
    /// x axis title.
    pub x_title: String,
    /// y axis title.
    pub y_title: String,
    /// Every run that has a user count.
    pub points: Vec<ParetoPoint>,
    /// Indices into `points` of the frontier, by x ascending.
    pub frontier: Vec<usize>,
    /// Runs skipped for lack of a user count.
    pub skipped_no_users: usize,
    /// Runs left out because their output throughput (hence x or y) is NaN.
    pub skipped_nan: usize,
}

/// Look a key up as written, then with `_` and `-` swapped.
fn lookup<'a>(record: &'a Record, key: &str) -> Option<&'a Value> {
    [
        key.to_string(),
        key.replace('_', "-"),
        key.replace('-', "_"),
    ]
    .iter()
    .find_map(|k| record.get(k))
}

/// Fail with the list of available variables unless some run has `var` (in either `_`/`-`
/// spelling). For variables named on the command line: a typo must not silently fall back.
pub fn require_variable(table: &Table, what: &str, var: &str) -> Result<(), PlotError> {
    if table.runs.iter().any(|r| lookup(&r.record, var).is_some()) {
        return Ok(());
    }
    Err(PlotError::MissingVariable {
        what: what.to_string(),
        var: var.to_string(),
        available: table.variables(),
    })
}

/// Label keys computed per point rather than read from the runs.
pub const DERIVED_LABELS: [&str; 3] = ["gpu_count", "user_count", "user_count_estimate"];

/// A usable count: a finite number > 0.
fn count(record: &Record, key: &str) -> Option<f64> {
    lookup(record, key)
        .and_then(as_number)
        .filter(|v| v.is_finite() && *v > 0.0)
}

/// The run's user count, or `None` (then the run is skipped): a number > 0, infinity
/// included (`request_rate` `"inf"`).
pub fn user_count(record: &Record, spec: &ParetoSpec) -> Option<f64> {
    [
        spec.user_count_var.as_str(),
        "request_rate",
        "max_concurrent_requests",
    ]
    .iter()
    .find_map(|k| lookup(record, k).and_then(as_number).filter(|v| *v > 0.0))
}

/// The run's GPU count (at least 1).
pub fn gpu_count(record: &Record, spec: &ParetoSpec) -> f64 {
    if let Some(n) = spec.gpu_count_var.as_deref().and_then(|k| count(record, k)) {
        return n;
    }
    [
        ["tensor_parallel_size", "tp"],
        ["pipeline_parallel_size", "pp"],
        ["data_parallel_size", "dp"],
    ]
    .iter()
    .map(|keys| keys.iter().find_map(|k| count(record, k)).unwrap_or(1.0))
    .product()
}

/// Indices of the frontier among `(x, y)` points, by x ascending (vLLM's rule; NaN
/// points never qualify).
pub fn frontier(points: &[(f64, f64)]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..points.len())
        .filter(|&i| !points[i].0.is_nan() && !points[i].1.is_nan())
        .collect();
    order.sort_by(|&a, &b| {
        points[b]
            .0
            .total_cmp(&points[a].0)
            .then(points[b].1.total_cmp(&points[a].1))
    });
    let mut best = f64::NEG_INFINITY;
    let mut kept = Vec::new();
    for i in order {
        let y = points[i].1;
        if y >= best - 1e-9 {
            kept.push(i);
            best = best.max(y);
        }
    }
    kept.reverse();
    kept
}

/// Build the chart from every run of the table. A run without `output_throughput`, or
/// with one that is not a number, is an error naming its file.
pub fn build_pareto(table: &Table, spec: &ParetoSpec) -> Result<ParetoChart, PlotError> {
    let mut points = Vec::new();
    let mut skipped = 0;
    let mut skipped_nan = 0;
    for run in &table.runs {
        let rec = &run.record;
        let file = table.source_of(run).display().to_string();
        let throughput = match lookup(rec, "output_throughput") {
            Some(v) => as_number(v).ok_or_else(|| PlotError::NotNumeric {
                what: "throughput".into(),
                var: "output_throughput".into(),
                value: py_str(v),
                file: file.clone(),
            })?,
            None => {
                return Err(PlotError::NoThroughput {
                    file,
                    available: rec.keys().cloned().collect(),
                });
            }
        };
        let Some(users) = user_count(rec, spec) else {
            skipped += 1;
            continue;
        };
        if throughput.is_nan() {
            skipped_nan += 1;
            continue;
        }
        let gpus = gpu_count(rec, spec);
        let label = spec
            .label_by
            .iter()
            .filter_map(|k| {
                let v = match k.as_str() {
                    "gpu_count" if lookup(rec, k).is_none() => format_value(gpus),
                    "user_count" | "user_count_estimate" if lookup(rec, k).is_none() => {
                        format_value(users)
                    }
                    _ => label_value(lookup(rec, k)?),
                };
                Some(format!("{k}={v}"))
            })
            .collect::<Vec<_>>();
        let combination = table
            .source_of(run)
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        points.push(ParetoPoint {
            x: throughput / users,
            y: throughput / gpus,
            user_count: users,
            gpu_count: gpus,
            label,
            combination,
        });
    }
    let xy: Vec<(f64, f64)> = points.iter().map(|p| (p.x, p.y)).collect();
    let front = frontier(&xy);
    let users_from = format!(
        "users = {} (else request_rate, else max_concurrent_requests)",
        spec.user_count_var
    );
    let gpus_from = match &spec.gpu_count_var {
        Some(k) => format!("GPUs = {k} (else TP × PP × DP)"),
        None => "GPUs = tensor × pipeline × data parallel size".to_string(),
    };
    Ok(ParetoChart {
        title: "Pareto frontier: output throughput per user vs per GPU".into(),
        subtitle: format!(
            "{} runs, {} on the frontier; {users_from}; {gpus_from}",
            points.len(),
            front.len()
        ),
        x_title: axis_title("tokens_per_user"),
        y_title: axis_title("tokens_per_gpu"),
        points,
        frontier: front,
        skipped_no_users: skipped,
        skipped_nan,
    })
}

fn label_value(v: &Value) -> String {
    match v {
        Value::Number(_) => as_number(v).map(format_value).unwrap_or_else(|| py_str(v)),
        other => py_str(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    fn rec(v: Value) -> Record {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn frontier_keeps_the_non_dominated_points() {
        let pts = [
            (10.0, 100.0), // frontier
            (20.0, 80.0),  // frontier
            (15.0, 70.0),  // dominated by (20, 80)
            (5.0, 120.0),  // frontier
            (5.0, 90.0),   // same x, lower y: dominated
            (30.0, 10.0),  // frontier (largest x)
            (f64::NAN, 500.0),
        ];
        assert_eq!(frontier(&pts), [3, 0, 1, 5]);
        assert!(frontier(&[]).is_empty());
        // Ties are all kept, as in vLLM.
        assert_eq!(frontier(&[(1.0, 1.0), (1.0, 1.0)]).len(), 2);
    }

    #[test]
    fn users_fall_back_in_order() {
        let s = ParetoSpec::default();
        assert_eq!(
            user_count(&rec(json!({"max_concurrency": 8})), &s),
            Some(8.0)
        );
        assert_eq!(
            user_count(
                &rec(json!({"max_concurrency": null, "request_rate": 4})),
                &s
            ),
            Some(4.0)
        );
        assert_eq!(
            user_count(
                &rec(
                    json!({"max_concurrency": 0, "request_rate": 0, "max_concurrent_requests": 12})
                ),
                &s
            ),
            Some(12.0)
        );
        // vLLM's order: an infinite request rate is a user count (before the observed peak).
        assert_eq!(
            user_count(
                &rec(json!({"request_rate": "inf", "max_concurrent_requests": 12})),
                &s
            ),
            Some(f64::INFINITY)
        );
        assert_eq!(
            user_count(&rec(json!({"max-concurrency": 3})), &s),
            Some(3.0)
        );
        assert_eq!(
            user_count(&rec(json!({"request_rate": "inf"})), &s),
            Some(f64::INFINITY)
        );
        assert_eq!(user_count(&rec(json!({"request_rate": "nan"})), &s), None);
        assert_eq!(user_count(&rec(json!({"request_rate": -1})), &s), None);
        let custom = ParetoSpec {
            user_count_var: "users".into(),
            ..ParetoSpec::default()
        };
        assert_eq!(
            user_count(&rec(json!({"users": 5, "max_concurrency": 8})), &custom),
            Some(5.0)
        );
    }

    #[test]
    fn gpus_from_the_variable_or_parallel_sizes() {
        let s = ParetoSpec::default();
        assert_eq!(gpu_count(&rec(json!({})), &s), 1.0);
        assert_eq!(
            gpu_count(
                &rec(json!({"tensor_parallel_size": 2, "pp": 2, "data-parallel-size": 2})),
                &s
            ),
            8.0
        );
        let g = ParetoSpec {
            gpu_count_var: Some("num_gpus".into()),
            ..ParetoSpec::default()
        };
        assert_eq!(gpu_count(&rec(json!({"num_gpus": 4, "tp": 2})), &g), 4.0);
        assert_eq!(gpu_count(&rec(json!({"num_gpus": 0, "tp": 2})), &g), 2.0);
    }

    #[test]
    fn chart_from_runs() {
        let t = Table::from_records(
            vec![
                rec(json!({"output_throughput": 100.0, "max_concurrency": 1, "tp": 1})),
                rec(json!({"output_throughput": 400.0, "max_concurrency": 8, "tp": 2})),
                rec(json!({"output_throughput": 150.0, "max_concurrency": 4, "tp": 2})),
                rec(json!({"output_throughput": 50.0})),
            ],
            Path::new("exp/SERVE--a/summary.json"),
        );
        let c = build_pareto(&t, &ParetoSpec::default()).unwrap();
        assert_eq!(c.points.len(), 3);
        assert_eq!(c.skipped_no_users, 1);
        assert_eq!((c.points[1].x, c.points[1].y), (50.0, 200.0));
        assert_eq!(c.points[1].label, ["max_concurrency=8", "gpu_count=2"]);
        assert_eq!(c.points[1].combination, "SERVE--a");
        // (100, 100) and (50, 200) are on the frontier; (37.5, 75) is not.
        assert_eq!(c.frontier, [1, 0]);
    }

    #[test]
    fn infinite_rates_sit_at_zero_and_nan_throughput_is_left_out() {
        let t = Table::from_records(
            vec![
                rec(json!({"request_rate": "inf", "output_throughput": 900})),
                rec(json!({"max_concurrency": 4, "output_throughput": "nan"})),
                rec(json!({"max_concurrency": 2, "output_throughput": 400})),
                rec(json!({"output_throughput": 10})),
            ],
            Path::new("x/summary.json"),
        );
        let c = build_pareto(&t, &ParetoSpec::default()).unwrap();
        assert_eq!(c.points.len(), 2);
        assert_eq!((c.points[0].x, c.points[0].y), (0.0, 900.0));
        assert_eq!(c.points[0].user_count, f64::INFINITY);
        assert_eq!((c.skipped_no_users, c.skipped_nan), (1, 1));
        // Both on the frontier: (200, 400) has more per user, (0, 900) more per GPU.
        assert_eq!(c.frontier, [0, 1]);
    }

    #[test]
    fn missing_throughput_is_an_error() {
        let t = Table::from_records(
            vec![rec(json!({"max_concurrency": 1}))],
            Path::new("x/summary.json"),
        );
        let e = build_pareto(&t, &ParetoSpec::default())
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "cannot draw a Pareto chart: x/summary.json has no output_throughput (runs of a start-up sweep have none). Its variables: max_concurrency"
        );
        let t = Table::from_records(
            vec![rec(
                json!({"output_throughput": "fast", "max_concurrency": 1}),
            )],
            Path::new("x/summary.json"),
        );
        let e = build_pareto(&t, &ParetoSpec::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("must be a number") && e.contains("fast"), "{e}");
    }
}
