//! Merging folders laid out by hand: plan order, missing and failed combinations, folders
//! without a record, separate shard folders, refusals.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::*;

fn put(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn record(root: &Path, doc: Value) {
    put(root, EXPERIMENT_JSON, &doc.to_string());
}

fn serve_doc(serve_params: Value) -> Value {
    json!({
        "kind": "serve",
        "serve_params": serve_params,
        "num_runs": 1,
        "identity_keys": ["serve_params", "num_runs"],
    })
}

/// A combination's summary with one run tagged `tag`.
fn done(root: &Path, comb: &str, tag: &str) {
    put(
        root,
        &format!("{comb}/summary.json"),
        &json!([{"tag": tag, "run_number": 0}]).to_string(),
    );
}

fn csv_tags(root: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(root.join(SUMMARY_CSV)).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == "tag").unwrap();
    lines
        .map(|l| l.split(',').nth(col).unwrap().to_string())
        .collect()
}

fn failure(root: &Path, rel: &str, error_type: &str, error: &str) {
    put(
        root,
        rel,
        &json!({"error_type": error_type, "error": error}).to_string(),
    );
}

#[test]
fn rows_follow_the_plan_and_unplanned_summaries_come_last() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    record(root, serve_doc(json!([{"a": 2}, {"a": 1}])));
    done(root, "SERVE--a=1", "one");
    done(root, "SERVE--a=2", "two");
    done(root, "AAA-old", "old");
    let report = merge_experiments(&[root.to_path_buf()]).unwrap();
    assert!(report.is_complete(), "{report}");
    assert_eq!((report.planned, report.complete), (2, 2));
    assert_eq!(csv_tags(root), ["two", "one", "old"]);
    assert_eq!(report.unplanned, [PathBuf::from("AAA-old/summary.json")]);
    assert_eq!(report.summary_csv, Some((root.join(SUMMARY_CSV), 3)));
}

#[test]
fn missing_and_failed_combinations_and_where_their_messages_are() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    record(
        root,
        serve_doc(json!([{"a": 1}, {"a": 2}, {"a": 3}, {"a": 4}])),
    );
    done(root, "SERVE--a=1", "one");
    // A server that failed once and then ran: its old failure is history.
    failure(root, "SERVE-a=1-failure.json", "ServerStartFailed", "old");
    failure(
        root,
        "SERVE--a=2/run=0.failure.json",
        "BenchmarkFailed",
        "exit 1\nmore",
    );
    failure(root, "SERVE-a=3-failure.json", "ServerDied", "oom");
    std::fs::create_dir_all(root.join("SERVE--a=4")).unwrap();
    failure(
        root,
        "stray/run=0.failure.json",
        "BenchmarkFailed",
        "elsewhere",
    );
    let report = merge_experiments(&[root.to_path_buf()]).unwrap();
    assert!(!report.is_complete());
    assert_eq!(report.complete, 1);
    assert_eq!(
        report.missing,
        [Missing {
            name: "SERVE--a=4".into(),
            what: vec!["unfinished (no summary.json)".into()]
        }]
    );
    let failed: Vec<(String, Vec<String>)> = report
        .failed
        .iter()
        .map(|f| {
            (
                f.name.clone(),
                f.notes
                    .iter()
                    .map(|n| format!("{}: {}", n.file.display(), n.message))
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        failed,
        [
            (
                "SERVE--a=2".to_string(),
                // The whole message: its cause may be on a later line.
                vec!["SERVE--a=2/run=0.failure.json: BenchmarkFailed: exit 1\nmore".to_string()]
            ),
            (
                "SERVE--a=3".to_string(),
                vec!["SERVE-a=3-failure.json: ServerDied: oom".to_string()]
            ),
            (
                "stray".to_string(),
                vec!["stray/run=0.failure.json: BenchmarkFailed: elsewhere".to_string()]
            ),
        ]
    );
    // What can be written is written.
    assert_eq!(csv_tags(root), ["one"]);
}

#[test]
fn a_folder_without_a_record_merges_alone_in_path_order() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    done(root, "SERVE--b", "b");
    done(root, "SERVE--a", "a");
    failure(root, "SERVE--c/run=0.failure.json", "BenchmarkFailed", "x");
    let report = merge_experiments(&[root.to_path_buf()]).unwrap();
    assert_eq!(report.kind, None);
    assert_eq!(report.planned, 0);
    assert_eq!(csv_tags(root), ["a", "b"]);
    assert_eq!(report.failed.len(), 1);
    assert!(!report.is_complete());
    let other = tempfile::tempdir().unwrap();
    record(other.path(), serve_doc(json!([{"a": 1}])));
    let e = merge_experiments(&[other.path().to_path_buf(), root.to_path_buf()])
        .unwrap_err()
        .to_string();
    assert!(e.contains("no experiment.json"), "{e}");
}

#[test]
fn separate_shard_folders_merge_into_a_new_folder() {
    let t = tempfile::tempdir().unwrap();
    let (s0, s1, merged) = (
        t.path().join("s0"),
        t.path().join("s1"),
        t.path().join("all"),
    );
    let doc = serve_doc(json!([{"a": 1}, {"a": 2}, {"a": 3}]));
    for (dir, shard) in [(&s0, 0), (&s1, 1)] {
        record(dir, doc.clone());
        put(dir, &format!(".llmsweep/shard-{shard}.json"), "{}");
        put(dir, &format!(".llmsweep/servers-shard-{shard}"), "");
        put(dir, &format!("summary-shard-{shard}.csv"), "rows");
        put(dir, "summary.csv", "stale");
    }
    done(&s0, "SERVE--a=1", "one");
    done(&s1, "SERVE--a=2", "two");
    done(&s0, "SERVE--a=3", "three");
    let report = merge_experiments(&[merged.clone(), s0.clone(), s1.clone()]).unwrap();
    assert!(report.is_complete(), "{report}");
    assert_eq!(csv_tags(&merged), ["one", "two", "three"]);
    assert_eq!(
        read_json(&merged.join(EXPERIMENT_JSON)).unwrap(),
        read_json(&s0.join(EXPERIMENT_JSON)).unwrap()
    );
    for kept in [
        ".llmsweep/shard-0.json",
        ".llmsweep/shard-1.json",
        "summary-shard-1.csv",
    ] {
        assert!(merged.join(kept).exists(), "{kept}");
    }
    assert!(!merged.join(".llmsweep/servers-shard-0").exists());
    assert_eq!(report.copies.len(), 2);
    // Merging again finds everything in place.
    let again = merge_experiments(&[merged.clone(), s0, s1]).unwrap();
    assert!(
        again
            .copies
            .iter()
            .all(|c| c.copied.is_empty() && c.conflicts.is_empty())
    );
}

#[test]
fn other_sweeps_and_bad_folder_lists_are_refused_before_anything_is_written() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    record(&a, serve_doc(json!([{"a": 1}])));
    record(&b, serve_doc(json!([{"a": 2}])));
    done(&b, "SERVE--a=2", "two");
    let e = merge_experiments(&[a.clone(), b.clone()])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("ran different sweeps")
            && e.contains("serve_params: [{\"a\":1}] vs [{\"a\":2}]"),
        "{e}"
    );
    assert!(!a.join("SERVE--a=2").exists() && !a.join(SUMMARY_CSV).exists());
    let e = merge_experiments(&[a.clone(), a.join("../a")])
        .unwrap_err()
        .to_string();
    assert!(e.contains("same folder"), "{e}");
    let e = merge_experiments(&[a.clone(), t.path().join("nope")])
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not exist") && e.contains("nope"), "{e}");
    assert!(merge_experiments(&[t.path().join("nope")]).is_err());
}

#[test]
fn sla_answers_come_from_every_shard_and_unanswered_searches_are_missing() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    record(
        root,
        json!({
            "kind": "serve-sla",
            "serve_params": [{"a": 1}, {"a": 2}, {"a": 3}],
            "sla_params": [{"p99_e2el_ms": "<=500"}],
            "sla_variable": "max_concurrency",
            "identity_keys": [],
        }),
    );
    let answer = |comb: &str| json!({"combination": comb, "criteria_text": "p99_e2el_ms<=500.00", "value": 4});
    for comb in ["SERVE--a=1", "SERVE--a=2", "SERVE--a=3"] {
        put(root, &format!("{comb}/SLA--p99_e2el_ms<=500.00.json"), "[]");
        done(root, &format!("{comb}/max_concurrency=4"), comb);
    }
    put(
        root,
        "sla_results-shard-1.json",
        &json!([answer("SERVE--a=2")]).to_string(),
    );
    put(
        root,
        "sla_results-shard-0.json",
        &json!([answer("SERVE--a=1")]).to_string(),
    );
    let report = merge_experiments(&[root.to_path_buf()]).unwrap();
    let written = read_json(&root.join("sla_results.json")).unwrap();
    let combs: Vec<&str> = written
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["combination"].as_str().unwrap())
        .collect();
    assert_eq!(combs, ["SERVE--a=1", "SERVE--a=2"]);
    assert!(root.join("sla_results.csv").exists());
    assert_eq!(report.sla_results, Some((root.join("sla_results.json"), 2)));
    assert_eq!(report.missing.len(), 1);
    assert_eq!(report.missing[0].name, "SERVE--a=3");
    assert!(report.missing[0].what[0].contains("no answer for p99_e2el_ms<=500.00"));
    assert_eq!(csv_tags(root), ["SERVE--a=1", "SERVE--a=2", "SERVE--a=3"]);
}
