//! Which folders may be merged: those whose `experiment.json` record the same sweep — the
//! same `kind` and the same value for every setting listed in `identity_keys` (commands as
//! given, parameter files' contents, run counts…). Times, hosts and invocations may differ.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use serde_json::{Map, Value};

use llmsweep_core::record::read_json;

use crate::experiment::{EXPERIMENT_JSON, short};

/// A folder's `experiment.json`, if it has one.
pub(super) fn read_experiment(dir: &Path) -> Result<Option<Map<String, Value>>> {
    let path = dir.join(EXPERIMENT_JSON);
    if !path.exists() {
        return Ok(None);
    }
    match read_json(&path)? {
        Value::Object(doc) => Ok(Some(doc)),
        _ => bail!(
            "'{}' is not a JSON object; was it written by llmsweep?",
            path.display()
        ),
    }
}

/// The settings named by a record's `identity_keys`.
fn identity_keys(doc: &Map<String, Value>) -> impl Iterator<Item = &str> {
    doc.get("identity_keys")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// How two records of an experiment differ in what defines it, one line per setting:
/// the kind, then every key either lists in `identity_keys`.
pub(super) fn differences(a: &Map<String, Value>, b: &Map<String, Value>) -> Vec<String> {
    let mut keys: Vec<&str> = vec!["kind"];
    for key in identity_keys(a).chain(identity_keys(b)) {
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys.into_iter()
        .filter_map(|key| {
            let (x, y) = (
                a.get(key).unwrap_or(&Value::Null),
                b.get(key).unwrap_or(&Value::Null),
            );
            (x != y).then(|| format!("{key}: {} vs {}", short(x), short(y)))
        })
        .collect()
}

/// Check that every folder's record describes the same sweep as the first record found;
/// returns that record. With several folders, each must have a record (an empty or new
/// target aside): without one, nothing says that it ran the same sweep.
pub(super) fn check_same_sweep(
    folders: &[(PathBuf, Option<Map<String, Value>>)],
    target_is_empty: bool,
) -> Result<Option<Map<String, Value>>> {
    if folders.len() > 1 {
        let lacking: Vec<String> = folders
            .iter()
            .enumerate()
            .filter(|(i, (_, doc))| doc.is_none() && !(*i == 0 && target_is_empty))
            .map(|(_, (dir, _))| format!("'{}'", dir.display()))
            .collect();
        if !lacking.is_empty() {
            bail!(
                "cannot merge {}: no {EXPERIMENT_JSON}, so nothing tells whether it ran the same sweep as the others. Only folders written by llmsweep can be merged together; a folder made by vLLM's own sweep can be merged alone (to rebuild its summary.csv)",
                lacking.join(", ")
            );
        }
    }
    let mut recorded = folders
        .iter()
        .filter_map(|(dir, doc)| doc.as_ref().map(|d| (dir, d)));
    let Some((first_dir, first)) = recorded.next() else {
        return Ok(None);
    };
    let mut lines = Vec::new();
    for (dir, doc) in recorded {
        for diff in differences(first, doc) {
            lines.push(format!(
                "'{}' vs '{}': {diff}",
                first_dir.display(),
                dir.display()
            ));
        }
    }
    if !lines.is_empty() {
        bail!(
            "cannot merge: these folders ran different sweeps ({EXPERIMENT_JSON} differs):\n  {}\nMerge only the shards of one sweep (same kind, commands, parameter files and run counts)",
            lines.join("\n  ")
        );
    }
    Ok(Some(first.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn serve(runs: u32) -> Map<String, Value> {
        doc(json!({
            "kind": "serve",
            "num_runs": runs,
            "serve_params": [{"a": 1}],
            "hostname": format!("host{runs}"),
            "identity_keys": ["num_runs", "serve_params"],
        }))
    }

    #[test]
    fn only_the_kind_and_identity_keys_count() {
        let mut other_host = serve(3);
        other_host.insert("hostname".into(), json!("elsewhere"));
        other_host.insert("started_at".into(), json!("later"));
        assert!(differences(&serve(3), &other_host).is_empty());
        assert_eq!(differences(&serve(3), &serve(1)), ["num_runs: 3 vs 1"]);
        let mut sla = serve(3);
        sla.insert("kind".into(), json!("serve-sla"));
        sla.insert("sla_params".into(), json!([{"p99_e2el_ms": "<=500"}]));
        sla.insert(
            "identity_keys".into(),
            json!(["num_runs", "serve_params", "sla_params"]),
        );
        assert_eq!(
            differences(&serve(3), &sla),
            [
                "kind: \"serve\" vs \"serve-sla\"",
                "sla_params: null vs [{\"p99_e2el_ms\":\"<=500\"}]"
            ]
        );
    }

    #[test]
    fn every_difference_of_every_folder_is_named() {
        let folders = vec![
            (PathBuf::from("/a"), Some(serve(3))),
            (PathBuf::from("/b"), Some(serve(3))),
            (PathBuf::from("/c"), Some(serve(1))),
        ];
        let e = check_same_sweep(&folders, false).unwrap_err().to_string();
        assert!(
            e.contains("'/a' vs '/c': num_runs: 3 vs 1") && !e.contains("'/b'"),
            "{e}"
        );
        assert_eq!(
            check_same_sweep(&folders[..2], false).unwrap(),
            Some(serve(3))
        );
    }

    #[test]
    fn folders_without_a_record_merge_only_alone() {
        let alone = vec![(PathBuf::from("/vllm"), None)];
        assert_eq!(check_same_sweep(&alone, false).unwrap(), None);
        let two = vec![
            (PathBuf::from("/a"), Some(serve(3))),
            (PathBuf::from("/vllm"), None),
        ];
        let e = check_same_sweep(&two, false).unwrap_err().to_string();
        assert!(
            e.contains("'/vllm'") && e.contains("no experiment.json"),
            "{e}"
        );
        // A new, empty target takes the record of the folders merged into it.
        let into_new = vec![
            (PathBuf::from("/new"), None),
            (PathBuf::from("/a"), Some(serve(3))),
        ];
        assert_eq!(check_same_sweep(&into_new, true).unwrap(), Some(serve(3)));
    }
}
