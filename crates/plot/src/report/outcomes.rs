//! The report's later sections: SLA answers and their search paths, start-up times, every
//! failure with its message, server logs, and files that could not be read.

use llmsweep_core::pyfmt::py_str;
use llmsweep_core::record::{Record, as_number, to_json_pretty};
use serde_json::Value;

use super::gather::Experiment;
use super::html::{Cell, absent, esc, facts, table};
use super::results::StartupBar;
use crate::scale::format_value;
use crate::stats::mean;
use crate::table::number;

/// A JSON value as a short text: numbers compactly, strings as they are, others as JSON.
fn short(v: &Value) -> String {
    match v {
        Value::Number(_) => as_number(v).map(format_value).unwrap_or_default(),
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(_) => py_str(v),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

/// `k=v, …` for an object of overrides.
fn overrides(v: Option<&Value>) -> String {
    match v {
        Some(Value::Object(m)) if !m.is_empty() => m
            .iter()
            .map(|(k, v)| format!("{k}={}", py_str(v)))
            .collect::<Vec<_>>()
            .join(", "),
        Some(Value::Object(_)) | None | Some(Value::Null) => "(none)".into(),
        Some(other) => short(other),
    }
}

fn verdict_cell(v: Option<&Value>) -> Cell {
    let text = v.map(short).unwrap_or_default();
    let lower = text.to_ascii_lowercase();
    let class = if matches!(lower.as_str(), "pass" | "passed" | "true" | "ok" | "met") {
        Some("good")
    } else if matches!(lower.as_str(), "fail" | "failed" | "false" | "not met") {
        Some("bad")
    } else {
        None
    };
    Cell {
        text,
        class,
        ..Cell::default()
    }
}

/// SLA answers (`sla_results.json`) and search paths; `SLA--*.json` files otherwise.
pub fn sla_section(exp: &Experiment) -> String {
    let mut out = String::from("<section id=\"sla\"><h2>SLA searches</h2>\n");
    let entries: Vec<&Record> = match &exp.sla_results {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_object).collect(),
        Some(Value::Object(m)) => vec![m],
        _ => Vec::new(),
    };
    if entries.is_empty() && exp.sla_files.is_empty() {
        out.push_str(&absent(
            "No SLA search in this experiment (no sla_results.json, no SLA--*.json).",
        ));
        out.push_str("</section>\n");
        return out;
    }
    if !entries.is_empty() {
        let headers: Vec<(String, String)> = [
            ("Combination", ""),
            ("Criteria", "the SLA every run must meet"),
            ("Variable", "the load variable searched"),
            ("Answer", "the highest value found that meets the SLA"),
            ("Verdict", ""),
            ("Metrics at the answer", ""),
            ("Steps", "search steps taken"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let rows: Vec<Vec<Cell>> = entries
            .iter()
            .map(|e| {
                let answer = e.get("value");
                vec![
                    Cell::text(e.get("combination").map(short).unwrap_or_default()),
                    Cell::text(e.get("criteria").map(short).unwrap_or_default()),
                    Cell::text(e.get("sla_variable").map(short).unwrap_or_default()),
                    match answer.and_then(as_number) {
                        Some(n) => Cell::num(n),
                        None => Cell::text(answer.map(short).unwrap_or_else(|| "(none)".into())),
                    },
                    verdict_cell(e.get("verdict")),
                    Cell::text(match e.get("metrics") {
                        Some(Value::Object(m)) => m
                            .iter()
                            .map(|(k, v)| format!("{k}={}", short(v)))
                            .collect::<Vec<_>>()
                            .join(", "),
                        Some(v) => short(v),
                        None => String::new(),
                    }),
                    Cell::num(e.get("path").and_then(Value::as_array).map_or(0, Vec::len) as f64),
                ]
            })
            .collect();
        out.push_str(&table("sla-table", &headers, &rows));
        out.push_str("<h3>Search paths</h3>\n");
        for e in &entries {
            out.push_str(&search_path(e));
        }
    }
    for (rel, v) in &exp.sla_files {
        out.push_str(&format!(
            "<details><summary>{}</summary><pre class=\"json\">{}</pre></details>\n",
            esc(rel),
            esc(&to_json_pretty(v))
        ));
    }
    out.push_str("</section>\n");
    out
}

fn search_path(e: &Record) -> String {
    let name = format!(
        "{} — {}",
        e.get("combination").map(short).unwrap_or_default(),
        e.get("criteria").map(short).unwrap_or_default()
    );
    let steps: Vec<&Value> = e
        .get("path")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    if steps.is_empty() {
        return format!("<p><b>{}</b>: no search steps recorded.</p>\n", esc(&name));
    }
    let rows: Vec<Vec<Cell>> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let value = s.get("value");
            let margin = s.get("margin");
            vec![
                Cell::num((i + 1) as f64),
                value
                    .and_then(as_number)
                    .map(Cell::num)
                    .unwrap_or_else(|| Cell::text(value.map(short).unwrap_or_default())),
                margin
                    .and_then(as_number)
                    .map(Cell::num)
                    .unwrap_or_else(|| Cell::text(margin.map(short).unwrap_or_default())),
                verdict_cell(s.get("verdict")),
            ]
        })
        .collect();
    let headers: Vec<(String, String)> = [
        ("Step", ""),
        ("Value", "the load tried"),
        ("Margin", "how far from the SLA (≤ 0 meets it)"),
        ("Verdict", ""),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    format!(
        "<details open><summary>{}</summary>{}</details>\n",
        esc(&name),
        table("", &headers, &rows)
    )
}

/// Start-up runs (`avg_cold_startup_time`, …): a table per run, and the bars for the chart.
pub fn startup_section(exp: &Experiment) -> (String, Vec<StartupBar>) {
    let mut out = String::from("<section id=\"startup\"><h2>Start-up times</h2>\n");
    let runs = exp.startup_runs();
    if runs.is_empty() {
        out.push_str(&absent("No start-up measurements in this experiment."));
        out.push_str("</section>\n");
        return (out, Vec::new());
    }
    let keys = [
        "avg_cold_startup_time",
        "avg_warm_startup_time",
        "avg_cold_compilation_time",
        "avg_warm_compilation_time",
    ];
    let mut headers: Vec<(String, String)> = vec![
        ("Combination".into(), String::new()),
        ("run".into(), String::new()),
    ];
    headers.extend(
        keys.iter()
            .map(|k| (format!("{k} (s)"), crate::units::axis_title(k))),
    );
    headers.push(("cold_startup_times (s)".into(), "every cold start".into()));
    let mut bars: Vec<StartupBar> = Vec::new();
    let mut rows = Vec::new();
    for r in &runs {
        let combination = exp.table.files[r.file]
            .parent()
            .map(|p| exp.rel(p))
            .unwrap_or_default();
        let mut row = vec![
            Cell::text(combination.clone()),
            r.record
                .get("run_number")
                .and_then(as_number)
                .map(Cell::num)
                .unwrap_or_else(Cell::empty),
        ];
        for k in keys {
            row.push(
                number(&r.record, k)
                    .map(Cell::num)
                    .unwrap_or_else(Cell::empty),
            );
        }
        row.push(Cell::text(match r.record.get("cold_startup_times") {
            Some(Value::Array(a)) => a.iter().map(short).collect::<Vec<_>>().join(", "),
            _ => String::new(),
        }));
        rows.push(row);
        if !bars.iter().any(|b| b.combination == combination) {
            let of = |k: &str| {
                let v: Vec<f64> = runs
                    .iter()
                    .filter(|q| q.file == r.file)
                    .filter_map(|q| number(&q.record, k))
                    .collect();
                (!v.is_empty()).then(|| mean(&v))
            };
            bars.push(StartupBar {
                combination,
                cold: of("avg_cold_startup_time"),
                warm: of("avg_warm_startup_time"),
            });
        }
    }
    out.push_str(
        "<div class=\"chart\" id=\"startup-chart\" data-kind=\"startup\" style=\"height:420px\"></div>\n",
    );
    out.push_str(&table("startup-table", &headers, &rows));
    out.push_str("</section>\n");
    (out, bars)
}

/// Every failure file, with its error message in full.
pub fn failures_section(exp: &Experiment) -> String {
    let mut out = String::from("<section id=\"failures\"><h2>Failures</h2>\n");
    if exp.failures.is_empty() {
        out.push_str(&absent(
            "No failures recorded (no *failure.json files in this folder).",
        ));
        out.push_str("</section>\n");
        return out;
    }
    let headers: Vec<(String, String)> = [
        ("File", ""),
        ("What failed", ""),
        ("run", ""),
        ("Error type", ""),
        ("Error", "the message, in full"),
        ("Server overrides", ""),
        ("Benchmark overrides", ""),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    let rows: Vec<Vec<Cell>> = exp
        .failures
        .iter()
        .map(|f| {
            let what = if f.server {
                "server did not start"
            } else if f.rel_path.ends_with("warmup.failure.json") {
                "warm-up run"
            } else {
                "benchmark run"
            };
            match &f.content {
                Some(c) => vec![
                    Cell::text(f.rel_path.clone()),
                    Cell::text(what).with_class("bad"),
                    c.get("run_number")
                        .and_then(as_number)
                        .map(Cell::num)
                        .unwrap_or_else(Cell::empty),
                    Cell::text(c.get("error_type").map(short).unwrap_or_default()),
                    Cell::text(c.get("error").map(short).unwrap_or_default()).preformatted(),
                    Cell::text(overrides(c.get("serve_overrides"))),
                    Cell::text(overrides(c.get("bench_overrides"))),
                ],
                None => vec![
                    Cell::text(f.rel_path.clone()),
                    Cell::text(what).with_class("bad"),
                    Cell::empty(),
                    Cell::text("(not JSON)"),
                    Cell::text(f.raw.clone().unwrap_or_default()).preformatted(),
                    Cell::empty(),
                    Cell::empty(),
                ],
            }
        })
        .collect();
    out.push_str(&table("failures-table", &headers, &rows));
    out.push_str("</section>\n");
    out
}

/// Server logs with their last lines.
pub fn logs_section(exp: &Experiment) -> String {
    let mut out = String::from("<section id=\"logs\"><h2>Server logs</h2>\n");
    if exp.logs.is_empty() {
        out.push_str(&absent("No server logs in this folder (servers/*.log)."));
    }
    for log in &exp.logs {
        out.push_str(&format!(
            "<details><summary><a href=\"{0}\">{0}</a> ({1} bytes): last lines</summary>\
             <pre class=\"log\">{2}</pre></details>\n",
            esc(&log.rel_path),
            log.bytes,
            esc(&log.tail)
        ));
    }
    out.push_str("</section>\n");
    out
}

/// Files that could not be read, if any.
pub fn problems_section(exp: &Experiment) -> String {
    if exp.problems.is_empty() {
        return String::new();
    }
    let rows: Vec<(String, String)> = exp
        .problems
        .iter()
        .enumerate()
        .map(|(i, p)| (format!("{}", i + 1), p.clone()))
        .collect();
    format!(
        "<section id=\"problems\"><h2>Files that could not be read</h2>{}</section>\n",
        facts(&rows)
    )
}
