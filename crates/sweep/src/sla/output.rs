//! What an SLA sweep writes and prints besides the runs: `sla_results.json`,
//! `sla_results.csv`, the final table, and the dry-run plan.

use std::path::Path;

use anyhow::{Context, Result};
use comfy_table::{Cell, CellAlignment, Table, presets::UTF8_FULL_CONDENSED};
use serde_json::{Map, Value, json};

use llmsweep_core::layout::write_atomic;
use llmsweep_core::pyfmt::py_str;
use llmsweep_core::record::{Record, summary_csv, to_json_pretty};

use super::criteria::CriteriaSet;
use super::{SearchResult, SlaOptions, SlaVariable};
use crate::options::Prepared;
use crate::plan::Plan;
use crate::process::quote_cmd;
use crate::runner::bench_command;
use crate::session::{dry_run_header, dry_run_server};

/// The results file at the experiment root.
pub const SLA_RESULTS_JSON: &str = "sla_results.json";
/// The same, one row per search.
pub const SLA_RESULTS_CSV: &str = "sla_results.csv";

/// Write `sla_results.json` and `sla_results.csv`.
pub(super) fn write_results(prepared: &Prepared, results: &[SearchResult]) -> Result<()> {
    let entries: Vec<Map<String, Value>> = results.iter().map(|r| r.entry.clone()).collect();
    write_sla_results(
        &prepared
            .experiment_dir
            .join(prepared.root_file_name(SLA_RESULTS_JSON)),
        &prepared
            .experiment_dir
            .join(prepared.root_file_name(SLA_RESULTS_CSV)),
        &entries,
    )
}

/// Write SLA answers (one object per search) as JSON and as a CSV row per search.
pub fn write_sla_results(
    json_path: &Path,
    csv_path: &Path,
    entries: &[Map<String, Value>],
) -> Result<()> {
    let list = Value::Array(entries.iter().cloned().map(Value::Object).collect());
    write_atomic(json_path, to_json_pretty(&list).as_bytes())
        .with_context(|| format!("cannot write '{}'", json_path.display()))?;
    let rows: Vec<Record> = entries
        .iter()
        .map(|e| {
            let mut row = Record::new();
            for key in [
                "combination",
                "criteria_text",
                "sla_variable",
                "value",
                "verdict",
                "reached_max",
                "converged",
                "steps",
                "runs",
                "error",
            ] {
                row.insert(key.into(), e.get(key).cloned().unwrap_or(Value::Null));
            }
            if let Some(Value::Object(m)) = e.get("metrics") {
                for (k, v) in m {
                    row.insert(k.clone(), v.clone());
                }
            }
            let path: Vec<String> = match e.get("path") {
                Some(Value::Array(steps)) => steps.iter().map(path_step_text).collect(),
                _ => Vec::new(),
            };
            row.insert("path".into(), json!(path.join(" ")));
            row
        })
        .collect();
    write_atomic(csv_path, summary_csv(&rows).as_bytes())
        .with_context(|| format!("cannot write '{}'", csv_path.display()))
}

/// One step of a search path for the CSV: `value:margin:verdict`, the margin as
/// `sla_results.json` has it (e.g. `64:0.25:fail`; no margin recorded: `64::fail`).
fn path_step_text(step: &Value) -> String {
    let margin = match step.get("margin") {
        Some(Value::Null) | None => String::new(),
        Some(m) => py_str(m),
    };
    format!(
        "{}:{margin}:{}",
        py_str(&step["value"]),
        step["verdict"].as_str().unwrap_or("")
    )
}

/// The final table: one row per search, its `runs` column the runs that search used
/// (shared ones included); then the count of distinct benchmark runs, each once however
/// many criteria sets used it (the rows of `summary.csv`), and how many of them this
/// invocation measured.
pub(super) fn results_table(results: &[SearchResult], distinct: usize, measured: usize) -> String {
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED);
    table.set_header(vec![
        "combination",
        "criteria",
        "variable",
        "largest passing value",
        "verdict",
        "steps",
        "runs",
    ]);
    for r in results {
        let e = &r.entry;
        let failed = e.get("verdict").and_then(Value::as_str) == Some("failed");
        let value = match e.get("value") {
            Some(Value::Null) | None if failed => "-".to_string(),
            Some(Value::Null) | None => "none passes".to_string(),
            Some(v) => {
                let mut s = py_str(v);
                if e.get("reached_max") == Some(&Value::Bool(true)) {
                    s.push_str(" (the maximum)");
                }
                s
            }
        };
        let text = |k: &str| crate::console::escape(&py_str(&e[k])).into_owned();
        table.add_row(vec![
            Cell::new(text("combination")),
            Cell::new(text("criteria_text")),
            Cell::new(py_str(&e["sla_variable"])),
            Cell::new(value).set_alignment(CellAlignment::Right),
            Cell::new(py_str(&e["verdict"])),
            Cell::new(py_str(&e["steps"])).set_alignment(CellAlignment::Right),
            Cell::new(py_str(&e["runs"])).set_alignment(CellAlignment::Right),
        ]);
    }
    let reused = distinct.saturating_sub(measured);
    let mut text = format!(
        "{table}\nBenchmark runs: {distinct} distinct (a run shared by several criteria sets counts once; \
         the table's runs column counts each search's own, shared ones included)"
    );
    if reused > 0 {
        text.push_str(&format!(
            "; {measured} measured now, {reused} reused from an earlier invocation"
        ));
    }
    text
}

/// Print the plan of an SLA sweep without running anything.
pub(super) fn print_dry_run(
    prepared: &Prepared,
    plan: &Plan,
    opts: &SlaOptions,
    sets: &[CriteriaSet],
) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let var = opts.variable;
    dry_run_header(&mut out, prepared, plan)?;
    writeln!(
        out,
        "SLA criteria sets: {}",
        sets.iter()
            .map(CriteriaSet::text)
            .collect::<Vec<_>>()
            .join(" | ")
    )?;
    for (i, sp) in plan.servers.iter().enumerate() {
        dry_run_server(&mut out, prepared, plan, i)?;
        for comb in &sp.combinations {
            let max = match var {
                SlaVariable::MaxConcurrency => opts.max_value.unwrap_or_else(|| {
                    crate::commands::dataset_size(&comb.bench, &prepared.cmds.bench) as f64
                }),
                SlaVariable::RequestRate => opts.max_value.unwrap_or(f64::INFINITY),
            };
            let min = opts.min_value.unwrap_or(1.0);
            writeln!(out, "  [combination] {}", comb.dir.display())?;
            writeln!(
                out,
                "    searches {} in [{}, {}]; the first runs, at the largest value:",
                var.key(),
                var.text(min),
                var.text(max)
            )?;
            let first = comb.bench.with(var.key(), var.json(max));
            let dir = comb.dir.join(format!("{}={}", var.key(), var.text(max)));
            for run in 0..prepared.opts.num_runs {
                writeln!(
                    out,
                    "    run {run} $ {}",
                    quote_cmd(&bench_command(
                        &prepared.cmds.bench,
                        &first,
                        &dir.join(llmsweep_core::layout::run_file_name(run))
                    ))
                )?;
            }
        }
    }
    Ok(())
}
