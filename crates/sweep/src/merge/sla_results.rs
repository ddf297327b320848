//! The answers of a merged SLA sweep: every shard wrote its own `sla_results-shard-K.json`
//! (a one-process sweep, `sla_results.json`); the merge takes every entry once — by
//! combination and criteria set, a shard's file first, as the freshest — and orders them as
//! one process would: by plan, then by criteria order.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use llmsweep_core::record::read_json;

use super::expected::PlannedSearch;
use crate::sla::SLA_RESULTS_JSON;

/// An SLA answer: one object of `sla_results.json`.
pub(super) type Entry = Map<String, Value>;

/// The shard number in a shard's results file name (`sla_results-shard-K.json`).
fn shard_number(name: &str) -> Option<u32> {
    name.strip_prefix("sla_results-shard-")?
        .strip_suffix(".json")?
        .parse()
        .ok()
}

/// The results files at the experiment root: the shards' by shard number, then the
/// experiment's own.
pub(super) fn result_files(target: &Path) -> Vec<PathBuf> {
    let mut shards: Vec<(u32, PathBuf)> = std::fs::read_dir(target)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((shard_number(&e.file_name().to_string_lossy())?, e.path())))
        .collect();
    shards.sort();
    let mut files: Vec<PathBuf> = shards.into_iter().map(|(_, p)| p).collect();
    let own = target.join(SLA_RESULTS_JSON);
    if own.is_file() {
        files.push(own);
    }
    files
}

/// The entries of every file, in order; unreadable files and entries are described in the
/// second list.
pub(super) fn read_entries(files: &[PathBuf]) -> (Vec<Entry>, Vec<String>) {
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    for file in files {
        match read_json(file) {
            Ok(Value::Array(items)) => {
                for (i, item) in items.into_iter().enumerate() {
                    match item {
                        Value::Object(e) if key(&e).is_some() => entries.push(e),
                        _ => problems.push(format!(
                            "'{}': entry {i} is not an SLA answer with a combination and a criteria_text; left out",
                            file.display()
                        )),
                    }
                }
            }
            Ok(_) => problems.push(format!(
                "'{}' is not a JSON list of SLA answers; left out",
                file.display()
            )),
            Err(e) => problems.push(format!("{e}; left out")),
        }
    }
    (entries, problems)
}

fn key(e: &Entry) -> Option<(&str, &str)> {
    Some((
        e.get("combination")?.as_str()?,
        e.get("criteria_text")?.as_str()?,
    ))
}

/// Every search once (the first entry found wins), in plan order then criteria order;
/// answers for searches outside the plan come last, in the order found.
pub(super) fn order_entries(entries: Vec<Entry>, searches: &[PlannedSearch]) -> Vec<Entry> {
    let position = |e: &Entry| {
        key(e).and_then(|(comb, crit)| {
            searches
                .iter()
                .position(|s| s.combination_name == comb && s.criteria_text == crit)
        })
    };
    let mut seen = HashSet::new();
    let mut kept: Vec<(usize, Entry)> = Vec::new();
    for e in entries {
        let Some((comb, crit)) = key(&e) else {
            continue;
        };
        if seen.insert((comb.to_string(), crit.to_string())) {
            kept.push((position(&e).unwrap_or(usize::MAX), e));
        }
    }
    // A stable sort keeps unplanned answers in the order found.
    kept.sort_by_key(|(p, _)| *p);
    kept.into_iter().map(|(_, e)| e).collect()
}

/// Does some entry answer `search`?
pub(super) fn answered(entries: &[Entry], search: &PlannedSearch) -> bool {
    entries
        .iter()
        .any(|e| key(e) == Some((&search.combination_name, &search.criteria_text)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(comb: &str, crit: &str, value: i64) -> Entry {
        json!({"combination": comb, "criteria_text": crit, "value": value})
            .as_object()
            .unwrap()
            .clone()
    }

    fn search(combination: usize, comb: &str, crit: &str) -> PlannedSearch {
        PlannedSearch {
            combination,
            combination_name: comb.into(),
            criteria_text: crit.into(),
            searched: true,
        }
    }

    #[test]
    fn once_each_in_plan_then_criteria_order() {
        let searches = [
            search(0, "A", "x"),
            search(0, "A", "y"),
            search(1, "B", "x"),
            search(1, "B", "y"),
        ];
        let entries = vec![
            entry("B", "y", 1),
            entry("stray", "x", 2),
            entry("A", "y", 3),
            entry("B", "x", 4),
            entry("A", "y", 99),
            entry("A", "x", 5),
        ];
        let ordered = order_entries(entries, &searches);
        let got: Vec<(String, i64)> = ordered
            .iter()
            .map(|e| {
                (
                    format!(
                        "{}/{}",
                        e["combination"].as_str().unwrap(),
                        e["criteria_text"].as_str().unwrap()
                    ),
                    e["value"].as_i64().unwrap(),
                )
            })
            .collect();
        let want: Vec<(String, i64)> = [
            ("A/x", 5),
            ("A/y", 3),
            ("B/x", 4),
            ("B/y", 1),
            ("stray/x", 2),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
        assert_eq!(got, want);
        assert!(answered(&ordered, &searches[2]));
        assert!(!answered(&ordered, &search(2, "C", "x")));
    }

    #[test]
    fn shards_first_then_the_experiments_own_and_bad_files_are_named() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        std::fs::write(root.join("sla_results.json"), "[]").unwrap();
        std::fs::write(root.join("sla_results-shard-10.json"), "[]").unwrap();
        std::fs::write(root.join("sla_results-shard-2.json"), "{}").unwrap();
        std::fs::write(root.join("sla_results-shard-x.json"), "[]").unwrap();
        std::fs::write(root.join("sla_results.csv"), "").unwrap();
        let files = result_files(root);
        let names: Vec<String> = files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "sla_results-shard-2.json",
                "sla_results-shard-10.json",
                "sla_results.json"
            ]
        );
        std::fs::write(
            root.join("sla_results-shard-10.json"),
            r#"[{"combination": "A", "criteria_text": "x"}, {"value": 1}]"#,
        )
        .unwrap();
        let (entries, problems) = read_entries(&files);
        assert_eq!(entries.len(), 1);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].contains("sla_results-shard-2.json")
                && problems[0].contains("not a JSON list")
        );
        assert!(problems[1].contains("entry 1"));
    }
}
