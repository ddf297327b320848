//! The report's results: one sortable row per combination (its parameters, its load, the
//! mean of its headline metrics over its runs) and the chart data for the page's script.

use std::collections::BTreeMap;

use llmsweep_core::pyfmt::py_str;
use serde::Serialize;

use super::gather::Experiment;
use super::html::{Cell, absent, esc, table};
use crate::figure::Figure;
use crate::pareto::ParetoChart;
use crate::stats::mean;
use crate::table::{Run, number};
use crate::units::{axis_title, unit};

/// Headline metrics, shown when some run has them.
const METRICS: &[&str] = &[
    "request_throughput",
    "output_throughput",
    "total_token_throughput",
    "median_ttft_ms",
    "p99_ttft_ms",
    "median_tpot_ms",
    "p99_tpot_ms",
    "median_itl_ms",
    "p99_itl_ms",
    "median_e2el_ms",
    "p99_e2el_ms",
    "completed",
    "failed",
    "avg_cold_startup_time",
    "avg_warm_startup_time",
    "avg_cold_compilation_time",
    "avg_warm_compilation_time",
];

/// Load settings, shown as columns after the parameters.
const LOAD: &[&str] = &["max_concurrency", "request_rate", "num_prompts"];

/// Group runs by the folder of their `summary.json` (one combination each).
pub fn combinations(exp: &Experiment) -> Vec<(String, Vec<&Run>)> {
    let mut by_file: BTreeMap<usize, Vec<&Run>> = BTreeMap::new();
    for r in &exp.table.runs {
        by_file.entry(r.file).or_default().push(r);
    }
    by_file
        .into_iter()
        .map(|(file, runs)| {
            let dir = exp.table.files[file]
                .parent()
                .map(|p| exp.rel(p))
                .unwrap_or_else(|| ".".into());
            (dir, runs)
        })
        .collect()
}

/// The results section: the combination table.
pub fn results_table(exp: &Experiment, params: &[String]) -> String {
    let mut out = String::from("<section id=\"results\"><h2>Results by combination</h2>\n");
    let combos = combinations(exp);
    if combos.is_empty() {
        out.push_str(&absent(
            "No successful runs: no summary.json below this folder. See the failures below.",
        ));
        out.push_str("</section>\n");
        return out;
    }
    let has = |k: &str| exp.table.runs.iter().any(|r| r.record.contains_key(k));
    let load: Vec<&str> = LOAD
        .iter()
        .copied()
        .filter(|k| has(k) && !params.iter().any(|p| p == k))
        .collect();
    let metrics: Vec<&str> = METRICS.iter().copied().filter(|k| has(k)).collect();
    // The folder name comes last: it repeats the parameters and runs to 150 characters,
    // and first it would push every metric out of view.
    let mut headers: Vec<(String, String)> = params
        .iter()
        .map(|p| (p.clone(), "parameter".to_string()))
        .collect();
    headers.extend(load.iter().map(|k| (k.to_string(), axis_title(k))));
    headers.push(("runs".into(), "successful runs in summary.json".into()));
    headers.extend(metrics.iter().map(|k| {
        let title = match unit(k) {
            Some(u) => format!("{k} ({u})"),
            None => k.to_string(),
        };
        (title, format!("{}: mean over the runs", axis_title(k)))
    }));
    headers.push(("Combination".into(), "the folder of its runs".into()));
    let rows: Vec<Vec<Cell>> = combos
        .iter()
        .map(|(dir, runs)| {
            let mut row = Vec::new();
            for k in params
                .iter()
                .map(String::as_str)
                .chain(load.iter().copied())
            {
                row.push(value_cell(runs, k));
            }
            row.push(Cell::num(runs.len() as f64));
            for k in &metrics {
                row.push(metric_cell(runs, k));
            }
            row.push(Cell::text(dir.clone()).with_class("comb"));
            row
        })
        .collect();
    out.push_str(&format!(
        "<p>{} combination{}. Click a column to sort. Metric cells are the mean over the \
         combination's runs; hover for the range.</p>\n",
        combos.len(),
        if combos.len() == 1 { "" } else { "s" }
    ));
    out.push_str(&table("results-table", &headers, &rows));
    out.push_str("</section>\n");
    out
}

/// The runs' value of a parameter: the common value, or all values when they differ.
fn value_cell(runs: &[&Run], key: &str) -> Cell {
    let mut values: Vec<String> = Vec::new();
    for r in runs {
        let v = r.record.get(key).map(py_str).unwrap_or_default();
        if !values.contains(&v) {
            values.push(v);
        }
    }
    let text = values.join(" / ");
    match (
        values.len(),
        runs.first().and_then(|r| number(&r.record, key)),
    ) {
        (1, Some(n)) => Cell {
            text,
            sort: Some(n),
            class: Some("num"),
            ..Cell::default()
        },
        _ => Cell::text(text),
    }
}

/// The mean of a metric over the runs, with the range as a tooltip.
fn metric_cell(runs: &[&Run], key: &str) -> Cell {
    let vals: Vec<f64> = runs
        .iter()
        .filter_map(|r| number(&r.record, key))
        .filter(|v| v.is_finite())
        .collect();
    if vals.is_empty() {
        return Cell::empty();
    }
    let m = mean(&vals);
    let lo = vals.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let cell = Cell::num(m);
    if vals.len() > 1 {
        cell.with_title(format!(
            "{} runs: {} – {}",
            vals.len(),
            crate::scale::format_value(lo),
            crate::scale::format_value(hi)
        ))
    } else {
        cell
    }
}

/// Chart data handed to the page's script.
#[derive(Debug, Serialize)]
pub struct ChartData<'a> {
    /// Latency curves.
    pub figures: &'a [Figure],
    /// The Pareto chart.
    pub pareto: Option<&'a ParetoChart>,
    /// Start-up bars: combination → (mean cold, mean warm) seconds.
    pub startup: Vec<StartupBar>,
}

/// One combination's mean start-up times.
#[derive(Debug, Serialize)]
pub struct StartupBar {
    /// The combination.
    pub combination: String,
    /// Mean cold start-up (s), if measured.
    pub cold: Option<f64>,
    /// Mean warm start-up (s), if measured.
    pub warm: Option<f64>,
}

/// The charts section: one chart per figure, then the Pareto chart; what is missing is
/// said plainly.
pub fn charts_section(
    figures: &[Figure],
    pareto: Option<&ParetoChart>,
    notes: &[String],
) -> String {
    let mut out = String::from("<section id=\"charts\"><h2>Charts</h2>\n");
    if figures.is_empty() {
        out.push_str(&absent(
            "No latency curves: no run has request_throughput with p99_e2el_ms, p99_ttft_ms or \
             p99_tpot_ms.",
        ));
    }
    for (i, f) in figures.iter().enumerate() {
        let h = 120 + f.rows * 380;
        out.push_str(&format!(
            "<h3>{}</h3>\n<div class=\"chart\" id=\"curves-{i}\" data-kind=\"curves\" \
             data-index=\"{i}\" style=\"height:{h}px\"></div>\n",
            esc(&f.title)
        ));
        if !f.note.is_empty() {
            out.push_str(&format!("<p class=\"note\">{}.</p>\n", esc(&f.note)));
        }
    }
    match pareto {
        Some(p) => {
            out.push_str(&format!(
                "<h3>{}</h3>\n<p class=\"note\">{}</p>\n<div class=\"chart\" id=\"pareto\" \
                 data-kind=\"pareto\" style=\"height:560px\"></div>\n",
                esc(&p.title),
                esc(&p.subtitle)
            ));
            if p.skipped_no_users > 0 {
                out.push_str(&format!(
                    "<p class=\"note\">Skipped {} runs without a user count.</p>\n",
                    p.skipped_no_users
                ));
            }
            if p.skipped_nan > 0 {
                out.push_str(&format!(
                    "<p class=\"note\">Left out {} runs whose output_throughput is NaN.</p>\n",
                    p.skipped_nan
                ));
            }
        }
        None => out.push_str(&absent(
            "No Pareto chart: no run has output_throughput with a user count \
             (max_concurrency, request_rate or max_concurrent_requests).",
        )),
    }
    for n in notes {
        out.push_str(&format!("<p class=\"note\">{}</p>\n", esc(n)));
    }
    out.push_str("</section>\n");
    out
}
