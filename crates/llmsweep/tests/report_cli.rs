//! `llmsweep report` end to end: one self-contained HTML file from folders made by
//! llmsweep (serve, SLA, start-up) and by vLLM's own sweep.

mod common;

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;

use common::copy_of;

/// Run `llmsweep report DIR` and return the page.
fn report(dir: &Path) -> String {
    Command::cargo_bin("llmsweep")
        .unwrap()
        .arg("report")
        .arg(dir)
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "Wrote {}",
            dir.join("report.html").display()
        )));
    std::fs::read_to_string(dir.join("report.html")).unwrap()
}

/// The JSON the page's script draws from.
fn chart_data(html: &str) -> serde_json::Value {
    let start = html.find("id=\"report-data\">").unwrap() + "id=\"report-data\">".len();
    let end = start + html[start..].find("</script>").unwrap();
    serde_json::from_str(&html[start..end]).unwrap()
}

fn assert_self_contained(html: &str) {
    for needle in ["src=\"http", "href=\"http", "<link ", "src=\"//", "@import"] {
        assert!(
            !html.contains(needle),
            "the page refers outside itself: {needle}"
        );
    }
    assert!(html.contains("echarts"), "the chart library is inlined");
    assert!(html.len() > 1_000_000);
}

#[test]
fn llmsweep_serve_folder() {
    let (_t, dir) = copy_of("llmsweep-serve");
    let html = report(&dir);
    assert_self_contained(&html);
    for want in [
        "<h2>Overview</h2>",
        "llmsweep 0.1.0",
        "gpu-node-7",
        // Commands, shell-quoted, and the parameter files.
        "vllm serve HuggingFaceTB/SmolLM2-135M-Instruct --port 8000",
        "{&quot;max_num_seqs&quot;: 128, &quot;enforce_eager&quot;: true}",
        "warmup_num_prompts",
        // The sortable table, one row per combination.
        "<table class=\"sortable\" id=\"results-table\">",
        // Parameters and metrics first; the long folder name last, in a row's last cell.
        "<td class=\"comb\">SERVE--max_num_seqs=8-BENCH--max_concurrency=16</td></tr>",
        "<th title=\"the folder of its runs\">Combination</th></tr></thead>",
        "p99_e2el_ms (ms)",
        // Failures, with their messages in full.
        "torch.OutOfMemoryError: CUDA out of memory",
        "HTTP 500 Internal Server Error",
        "server did not start",
        "run=1.failure.json",
        // Logs, and what is absent said plainly.
        "servers/SERVE--max_num_seqs=8.log",
        "No SLA search in this experiment",
        "No start-up measurements in this experiment.",
        // Both swept parameters, the benchmark's too.
        "<tr><th>max_num_seqs</th><td>",
        "<tr><th>max_concurrency</th><td>",
    ] {
        assert!(html.contains(want), "missing {want:?}");
    }
    let data = chart_data(&html);
    assert_eq!(data["figures"].as_array().unwrap().len(), 3);
    assert_eq!(data["figures"][0]["legend"], serde_json::json!(["8", "32"]));
    assert_eq!(data["pareto"]["points"].as_array().unwrap().len(), 11);
}

#[test]
fn vllm_folder_says_what_it_cannot_know() {
    let (_t, dir) = copy_of("vllm");
    let html = report(&dir);
    assert_self_contained(&html);
    assert!(html.contains("No experiment.json in this folder"));
    assert!(html.contains("Parameters that vary between runs"));
    // The swept benchmark parameter, although vLLM also writes it as a result key.
    assert!(
        html.contains("<tr><th>max_concurrency</th><td>"),
        "max_concurrency not listed"
    );
    assert!(html.contains("<tr><th>max_num_seqs</th><td>"));
    assert!(html.contains("Server process crashed with return code 1"));
    assert!(html.contains("No server logs in this folder"));
    let data = chart_data(&html);
    assert_eq!(data["figures"][0]["legend_title"], "max_num_seqs");
}

#[test]
fn sla_folder_shows_answers_and_search_paths() {
    let (_t, dir) = copy_of("llmsweep-sla");
    let html = report(&dir);
    assert!(html.contains("<table class=\"sortable\" id=\"sla-table\">"));
    assert!(html.contains("p99_e2el_ms&lt;=2500"));
    assert!(html.contains("Search paths"));
    assert!(html.contains("<td class=\"good\">pass</td>"));
    assert!(html.contains("<td class=\"bad\">fail</td>"));
    assert!(html.contains("SLA--p99_e2el_ms&lt;=2500.json"));
}

#[test]
fn startup_folder_shows_startup_times_and_no_curves() {
    let (_t, dir) = copy_of("llmsweep-startup");
    let html = report(&dir);
    assert!(html.contains("<table class=\"sortable\" id=\"startup-table\">"));
    assert!(html.contains("avg_cold_startup_time (s)"));
    assert!(html.contains("No latency curves"));
    assert!(html.contains("No Pareto chart"));
    let data = chart_data(&html);
    assert_eq!(data["startup"].as_array().unwrap().len(), 2);
    assert!(data["pareto"].is_null());
}

#[test]
fn an_empty_or_broken_folder_still_gets_a_report() {
    let tmp = tempfile::tempdir().unwrap();
    let html = report(tmp.path());
    assert!(html.contains("No successful runs"));
    assert!(html.contains("No failures recorded"));
    let bad = tmp.path().join("SERVE--x");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("summary.json"), "{not json").unwrap();
    let html = report(tmp.path());
    assert!(html.contains("Files that could not be read"));
    assert!(html.contains("is not valid JSON"));
    Command::cargo_bin("llmsweep")
        .unwrap()
        .arg("report")
        .arg(tmp.path().join("missing"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("is not a folder"));
}
