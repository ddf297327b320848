//! `llmsweep report`: one self-contained HTML file, `OUTPUT_DIR/report.html`, that opens
//! with no network. It holds the experiment's commands and parameters, a sortable table of
//! combinations with their metrics, the latency curves and the Pareto chart (interactive,
//! drawn by an inlined copy of Apache ECharts), SLA answers and search paths, start-up
//! times, every failure with its message, and the server logs' last lines. Whatever a
//! folder lacks, the page says so plainly.

mod gather;
mod html;
mod outcomes;
mod overview;
mod results;

use std::path::{Path, PathBuf};

use llmsweep_core::layout::write_atomic;
use llmsweep_core::pyfmt::py_str;

pub use gather::{Experiment, gather};

use crate::defaults::{
    default_figures, default_pareto, experiment_param_keys, swept_parameters, varied_parameters,
};
use crate::error::PlotError;
use html::{esc, script_code, script_json};

/// The chart library, inlined in every report (Apache-2.0, see assets/echarts/).
const ECHARTS_JS: &str = include_str!("../../assets/echarts/echarts.min.js");
/// The page's own script: sortable tables and the charts.
const REPORT_JS: &str = include_str!("../../assets/report.js");
/// The page's style.
const REPORT_CSS: &str = include_str!("../../assets/report.css");

/// Write `experiment_dir/report.html` and return its path.
pub fn write_report(experiment_dir: &Path) -> Result<PathBuf, PlotError> {
    let html = build_report(experiment_dir)?;
    let path = experiment_dir.join("report.html");
    write_atomic(&path, html.as_bytes()).map_err(|source| PlotError::Write {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// The report's HTML for a folder.
pub fn build_report(experiment_dir: &Path) -> Result<String, PlotError> {
    let exp = gather(experiment_dir)?;
    Ok(render_page(&exp))
}

/// The page for what was gathered.
pub fn render_page(exp: &Experiment) -> String {
    let param_keys = experiment_param_keys(&exp.dir);
    let params = varied_parameters(&exp.table, param_keys.as_ref());
    let inferred: Vec<(String, Vec<String>)> = swept_parameters(&exp.table, param_keys.as_ref())
        .iter()
        .map(|k| {
            let mut values: Vec<String> = Vec::new();
            for r in &exp.table.runs {
                let v = r.record.get(k).map(py_str).unwrap_or_else(|| "None".into());
                if !values.contains(&v) {
                    values.push(v);
                }
            }
            (k.clone(), values)
        })
        .collect();
    let figures = default_figures(&exp.table, &params);
    let pareto = default_pareto(&exp.table);
    let (startup_html, startup_bars) = outcomes::startup_section(exp);
    let mut notes = Vec::new();
    if !params.is_empty() {
        notes.push(format!("One curve per value of {}.", params.join(", ")));
    }
    let data = results::ChartData {
        figures: &figures,
        pareto: pareto.as_ref(),
        startup: startup_bars,
    };

    let name = exp
        .dir
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| exp.dir.display().to_string());
    let mut body = String::new();
    body.push_str(&format!(
        "<header><h1>Sweep report: {}</h1><nav>{}</nav></header>\n<main>\n",
        esc(&name),
        [
            ("overview", "Overview"),
            ("commands", "Commands"),
            ("results", "Results"),
            ("charts", "Charts"),
            ("sla", "SLA"),
            ("startup", "Start-up"),
            ("failures", "Failures"),
            ("logs", "Logs"),
        ]
        .iter()
        .map(|(id, t)| format!("<a href=\"#{id}\">{t}</a>"))
        .collect::<Vec<_>>()
        .join(" ")
    ));
    body.push_str(&overview::overview(exp));
    body.push_str(&overview::commands(exp, &inferred));
    body.push_str(&results::results_table(exp, &params));
    body.push_str(&results::charts_section(&figures, pareto.as_ref(), &notes));
    body.push_str(&outcomes::sla_section(exp));
    body.push_str(&startup_html);
    body.push_str(&outcomes::failures_section(exp));
    body.push_str(&outcomes::logs_section(exp));
    body.push_str(&outcomes::problems_section(exp));
    body.push_str(&format!(
        "</main>\n<footer>Written by llmsweep {} from the files in this folder. Charts: \
         Apache ECharts 5.6.0 (Apache-2.0), inlined.</footer>\n",
        env!("CARGO_PKG_VERSION")
    ));

    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Sweep report: {title}</title>\n<style>\n{css}\n</style>\n</head>\n<body>\n\
         {body}\
         <script type=\"application/json\" id=\"report-data\">{data}</script>\n\
         <script>\n{echarts}\n</script>\n<script>\n{js}\n</script>\n</body>\n</html>\n",
        title = esc(&name),
        css = REPORT_CSS,
        data = script_json(&data),
        echarts = script_code(ECHARTS_JS),
        js = script_code(REPORT_JS),
    )
}
