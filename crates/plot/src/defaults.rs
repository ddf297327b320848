//! The charts a sweep draws when it ends, with no flags: latency against request
//! throughput for P99 E2E latency, TTFT and TPOT (whichever the runs have), one curve per
//! value of the parameters the sweep varied, and the Pareto chart. The same figures appear
//! in the HTML report.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use llmsweep_core::pyfmt::py_str;
use serde_json::Value;

use crate::error::PlotError;
use crate::figure::{CurveSpec, Figure, build_figure};
use crate::pareto::{ParetoChart, ParetoSpec, build_pareto};
use crate::plot::write_chart;
use crate::render::{Chart, FigureSize, ImageFormat};
use crate::table::{GroupKey, Table, number};

/// The x variable of the default curves.
pub const DEFAULT_X: &str = "request_throughput";
/// The y variables of the default curves, drawn when present.
pub const DEFAULT_Y: [&str; 3] = ["p99_e2el_ms", "p99_ttft_ms", "p99_tpot_ms"];

/// Keys `vllm bench serve` (and `vllm bench startup`) write: results, not parameters.
/// Anything else that varies between runs is taken for a swept parameter.
const RESULT_KEYS: &[&str] = &[
    "date",
    "endpoint_type",
    "backend",
    "label",
    "model_id",
    "tokenizer_id",
    "num_prompts",
    "request_rate",
    "burstiness",
    "max_concurrency",
    "duration",
    "completed",
    "failed",
    "total_input_tokens",
    "total_output_tokens",
    "request_throughput",
    "request_goodput",
    "output_throughput",
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
    "max_concurrent_requests",
    "rtfx",
    "run_number",
    "ramp_up_strategy",
    "ramp_up_start_rps",
    "ramp_up_end_rps",
    "rps_change_events",
];

/// Variables that set the load: they move points along a curve, so they never split
/// curves.
const LOAD_KEYS: &[&str] = &["max_concurrency", "request_rate", "num_prompts"];

fn is_result_key(k: &str) -> bool {
    RESULT_KEYS.contains(&k)
        || k.ends_with("_ms")
        || k.starts_with("spec_decode_")
        || k.starts_with("diffusion_")
        || k.starts_with("probe_")
        || k.starts_with("avg_cold_")
        || k.starts_with("avg_warm_")
        || k.starts_with("cold_")
        || k.starts_with("warm_")
}

/// The parameters the sweep varied that split curves: keys (other than results and load)
/// with more than one value across runs, in first-seen order. `param_keys`, when known
/// (from the parameter files in `experiment.json`), limits the candidates.
pub fn varied_parameters(table: &Table, param_keys: Option<&BTreeSet<String>>) -> Vec<String> {
    swept_parameters(table, param_keys)
        .into_iter()
        .filter(|k| !LOAD_KEYS.contains(&k.as_str()))
        .collect()
}

/// Every parameter the sweep varied, load included: keys with more than one value across
/// runs that are parameters — in the parameter files (`param_keys`, when known), or named
/// in the folder of a combination (`BENCH--max_concurrency=4` names `max_concurrency`), or,
/// with neither, keys that no benchmark writes as a result. A parameter that is also a
/// result key (`max_concurrency`, `num_prompts`, `request_rate`) is thus still listed when
/// it was swept.
pub fn swept_parameters(table: &Table, param_keys: Option<&BTreeSet<String>>) -> Vec<String> {
    table
        .variables()
        .into_iter()
        .filter(|k| {
            let in_files = match param_keys {
                Some(keys) => keys.contains(k),
                None => !is_result_key(k),
            };
            in_files || named_in_folders(table, k)
        })
        .filter(|k| {
            let mut seen = BTreeSet::new();
            for r in &table.runs {
                let v = r.record.get(k).map(py_str).unwrap_or_default();
                seen.insert(v);
                if seen.len() > 1 {
                    return true;
                }
            }
            false
        })
        .collect()
}

/// Does a combination folder's name (the folder of a `summary.json`, or the one above
/// it) set `key`, as `SERVE--key=…`, `BENCH--a=1-key=…`?
fn named_in_folders(table: &Table, key: &str) -> bool {
    let needle = format!("-{key}=");
    table.files.iter().any(|f| {
        f.ancestors().skip(1).take(2).any(|dir| {
            dir.file_name()
                .is_some_and(|n| n.to_string_lossy().contains(&needle))
        })
    })
}

/// Parameter names in `experiment.json`'s `serve_params`/`bench_params` (a list of
/// objects, or an object of named objects), if the file is there.
pub fn experiment_param_keys(experiment_dir: &Path) -> Option<BTreeSet<String>> {
    let exp = llmsweep_core::record::read_json(&experiment_dir.join("experiment.json")).ok()?;
    let mut keys = BTreeSet::new();
    let mut any = false;
    for field in ["serve_params", "bench_params"] {
        let items: Vec<&Value> = match exp.get(field) {
            Some(Value::Array(items)) => items.iter().collect(),
            Some(Value::Object(named)) => named.values().collect(),
            _ => continue,
        };
        any = true;
        if exp.get(field).is_some_and(Value::is_object) {
            keys.insert("_benchmark_name".to_string());
        }
        for item in items {
            if let Some(obj) = item.as_object() {
                keys.extend(obj.keys().cloned());
            }
        }
    }
    any.then_some(keys)
}

/// The default figures for a folder's runs (possibly none, e.g. for a start-up sweep).
pub fn default_figures(table: &Table, curve_by: &[String]) -> Vec<Figure> {
    DEFAULT_Y
        .iter()
        .filter(|y| {
            table
                .runs
                .iter()
                .any(|r| number(&r.record, DEFAULT_X).is_some() && number(&r.record, y).is_some())
        })
        .map(|y| {
            let mut spec = CurveSpec::new(DEFAULT_X, y);
            spec.curve_by = curve_by.to_vec();
            build_figure(&spec, GroupKey::default(), &table.runs)
        })
        .filter(|f| !f.is_empty())
        .collect()
}

/// The default Pareto chart, when some run has a throughput and a user count.
pub fn default_pareto(table: &Table) -> Option<ParetoChart> {
    let chart = build_pareto(table, &ParetoSpec::default()).ok()?;
    (!chart.points.is_empty()).then_some(chart)
}

/// What [`draw_default_charts`] wrote.
#[derive(Debug, Clone, Default)]
pub struct DefaultCharts {
    /// Every file written.
    pub files: Vec<PathBuf>,
    /// Why something was not drawn (no runs, no latency metrics, no user counts).
    pub notes: Vec<String>,
}

/// Draw the default charts of an experiment folder: `plots/<y>-vs-request_throughput.png`
/// for each default latency present, and `pareto/PARETO.png` and `.svg`. A folder with no
/// runs, or runs without these metrics, is not an error: the notes say what was left out.
pub fn draw_default_charts(experiment_dir: &Path) -> Result<DefaultCharts, PlotError> {
    let table = Table::load(experiment_dir)?;
    let mut out = DefaultCharts::default();
    if table.runs.is_empty() {
        out.notes
            .push("no successful runs (summary.json) yet: no charts drawn".into());
        return Ok(out);
    }
    let params = experiment_param_keys(experiment_dir);
    let curve_by = varied_parameters(&table, params.as_ref());
    let size = FigureSize::default();
    let figures = default_figures(&table, &curve_by);
    if figures.is_empty() {
        out.notes.push(format!(
            "no run has {DEFAULT_X} with any of {}: no curves drawn",
            DEFAULT_Y.join(", ")
        ));
    }
    for fig in &figures {
        let path = experiment_dir
            .join("plots")
            .join(format!("{}-vs-{}.png", fig.y.var, fig.x.var));
        write_chart(Chart::Curves(fig), &size, ImageFormat::Png, &path)?;
        out.files.push(path);
    }
    match default_pareto(&table) {
        Some(chart) => {
            for format in [ImageFormat::Png, ImageFormat::Svg] {
                let path = experiment_dir
                    .join("pareto")
                    .join(format!("PARETO.{}", format.extension()));
                write_chart(Chart::Pareto(&chart), &size, format, &path)?;
                out.files.push(path);
            }
        }
        None => out
            .notes
            .push("no run has output_throughput and a user count: no Pareto chart drawn".into()),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn table(v: Value) -> Table {
        Table::from_records(
            v.as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_object().unwrap().clone())
                .collect(),
            Path::new("x/summary.json"),
        )
    }

    #[test]
    fn varied_parameters_skip_results_load_and_constants() {
        let t = table(json!([
            {"max_num_seqs": 4, "tp": 1, "max_concurrency": 1, "p99_e2el_ms": 5, "date": "a", "model": "m"},
            {"max_num_seqs": 16, "tp": 1, "max_concurrency": 4, "p99_e2el_ms": 7, "date": "b", "model": "m"},
        ]));
        assert_eq!(varied_parameters(&t, None), ["max_num_seqs"]);
        let only: BTreeSet<String> = ["tp".to_string()].into();
        assert!(varied_parameters(&t, Some(&only)).is_empty());
    }

    #[test]
    fn swept_load_parameters_are_listed_but_split_no_curves() {
        let runs = [
            json!({"max_num_seqs": 4, "max_concurrency": 1, "num_prompts": 10, "request_rate": "inf", "p99_e2el_ms": 5}),
            json!({"max_num_seqs": 16, "max_concurrency": 4, "num_prompts": 10, "request_rate": "inf", "p99_e2el_ms": 7}),
        ];
        let mut t = Table::default();
        for (i, (r, dir)) in runs
            .iter()
            .zip([
                "e/SERVE--max_num_seqs=4-BENCH--max_concurrency=1",
                "e/SERVE--max_num_seqs=16-BENCH--max_concurrency=4",
            ])
            .enumerate()
        {
            t.files.push(Path::new(dir).join("summary.json"));
            t.runs.push(crate::table::Run {
                record: r.as_object().unwrap().clone(),
                file: i,
            });
        }
        // Without experiment.json: named in the folders.
        assert_eq!(
            swept_parameters(&t, None),
            ["max_num_seqs", "max_concurrency"]
        );
        assert_eq!(varied_parameters(&t, None), ["max_num_seqs"]);
        // With the parameter files: listed there.
        let keys: BTreeSet<String> = ["max_num_seqs".into(), "max_concurrency".into()].into();
        assert_eq!(
            swept_parameters(&t, Some(&keys)),
            ["max_num_seqs", "max_concurrency"]
        );
        // A result key that varies but is no parameter stays out.
        let plain = table(json!([
            {"max_num_seqs": 4, "max_concurrency": 1},
            {"max_num_seqs": 16, "max_concurrency": 2},
        ]));
        assert_eq!(swept_parameters(&plain, None), ["max_num_seqs"]);
        // A key merely ending like a parameter in a folder name is not it.
        assert!(!named_in_folders(&t, "concurrency"));
        assert!(named_in_folders(&t, "max_num_seqs"));
    }

    #[test]
    fn default_figures_only_for_present_metrics() {
        let t = table(json!([
            {"request_throughput": 1.0, "p99_e2el_ms": 5.0, "max_concurrency": 1},
            {"request_throughput": 2.0, "p99_e2el_ms": 9.0, "max_concurrency": 2},
        ]));
        let figs = default_figures(&t, &[]);
        assert_eq!(figs.len(), 1);
        assert_eq!(figs[0].y.var, "p99_e2el_ms");
        let startup = table(json!([{"avg_cold_startup_time": 3.0}]));
        assert!(default_figures(&startup, &[]).is_empty());
        assert!(default_pareto(&startup).is_none());
    }
}
