//! Everything the report shows, read from an experiment folder, tolerating what is
//! missing or broken: a file that cannot be read becomes a listed problem, not an error.

use std::path::{Path, PathBuf};

use llmsweep_core::record::{Record, find_files, natural_cmp, read_json, read_record_list};
use serde_json::Value;

use crate::table::{Run, Table};

/// One failure file: a failed run (`run=N.failure.json`, `warmup.failure.json`) or a
/// server that did not come up (`SERVE-<name>-failure.json`).
#[derive(Debug, Clone)]
pub struct Failure {
    /// Path relative to the experiment folder.
    pub rel_path: String,
    /// Its content, if it is a JSON object.
    pub content: Option<Record>,
    /// Its raw text when it is not.
    pub raw: Option<String>,
    /// Is it a server failure (at the folder's root, `SERVE-…-failure.json`)?
    pub server: bool,
}

/// One server log under `servers/`.
#[derive(Debug, Clone)]
pub struct ServerLog {
    /// Path relative to the experiment folder.
    pub rel_path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// The last lines (at most 40).
    pub tail: String,
}

/// What an experiment folder holds.
#[derive(Debug, Clone, Default)]
pub struct Experiment {
    /// The folder.
    pub dir: PathBuf,
    /// `experiment.json` (written by llmsweep; absent for vLLM's folders).
    pub experiment: Option<Record>,
    /// Every run of every readable `summary.json`.
    pub table: Table,
    /// Failure files, sorted by path.
    pub failures: Vec<Failure>,
    /// `sla_results.json`, if present.
    pub sla_results: Option<Value>,
    /// `SLA--*.json` files (relative path, content), sorted.
    pub sla_files: Vec<(String, Value)>,
    /// Server logs, sorted.
    pub logs: Vec<ServerLog>,
    /// Is there a `summary.csv`?
    pub has_summary_csv: bool,
    /// Files that could not be read, with why.
    pub problems: Vec<String>,
}

impl Experiment {
    /// The runs that measured start-up (`vllm bench startup` keys).
    pub fn startup_runs(&self) -> Vec<&Run> {
        self.table
            .runs
            .iter()
            .filter(|r| {
                r.record
                    .keys()
                    .any(|k| k.starts_with("avg_cold_") || k.starts_with("avg_warm_"))
            })
            .collect()
    }

    /// A path relative to the experiment folder, `/`-separated.
    pub fn rel(&self, path: &Path) -> String {
        rel_to(&self.dir, path)
    }
}

/// A path relative to `dir`, `/`-separated (`.` for `dir` itself).
pub fn rel_to(dir: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(dir).unwrap_or(path);
    let s = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/");
    if s.is_empty() { ".".into() } else { s }
}

/// Read everything the report needs from `dir`. Only a missing folder is an error.
pub fn gather(dir: &Path) -> Result<Experiment, crate::PlotError> {
    if !dir.is_dir() {
        return Err(crate::PlotError::NotAFolder {
            dir: dir.to_path_buf(),
        });
    }
    let mut exp = Experiment {
        dir: dir.to_path_buf(),
        ..Experiment::default()
    };
    let exp_file = dir.join("experiment.json");
    if exp_file.is_file() {
        match read_json(&exp_file) {
            Ok(Value::Object(m)) => exp.experiment = Some(m),
            Ok(_) => exp
                .problems
                .push("experiment.json: expected a JSON object".into()),
            Err(e) => exp.problems.push(e.to_string()),
        }
    }

    let mut summaries = Vec::new();
    if let Err(e) = find_files(dir, "summary.json", &mut summaries) {
        exp.problems
            .push(format!("cannot list '{}': {e}", dir.display()));
    }
    summaries.sort_by(|a, b| natural_cmp(&a.to_string_lossy(), &b.to_string_lossy()));
    for path in summaries {
        match read_record_list(&path) {
            Ok(records) => {
                let file = exp.table.files.len();
                exp.table.files.push(path);
                exp.table
                    .runs
                    .extend(records.into_iter().map(|record| Run { record, file }));
            }
            Err(e) => exp.problems.push(e.to_string()),
        }
    }

    let mut all = Vec::new();
    collect_all(dir, &mut all);
    all.sort_by(|a, b| natural_cmp(&a.to_string_lossy(), &b.to_string_lossy()));
    for path in all {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let rel = exp.rel(&path);
        if name.ends_with("failure.json") {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let parsed = llmsweep_core::record::parse_json_lenient(&text).ok();
            let (content, raw) = match parsed {
                Some(Value::Object(m)) => (Some(m), None),
                _ => (None, Some(text)),
            };
            exp.failures.push(Failure {
                server: path.parent() == Some(dir) && name.starts_with("SERVE-"),
                rel_path: rel,
                content,
                raw,
            });
        } else if name.starts_with("SLA--") && name.ends_with(".json") {
            match read_json(&path) {
                Ok(v) => exp.sla_files.push((rel, v)),
                Err(e) => exp.problems.push(e.to_string()),
            }
        } else if rel == "sla_results.json" {
            match read_json(&path) {
                Ok(v) => exp.sla_results = Some(v),
                Err(e) => exp.problems.push(e.to_string()),
            }
        } else if rel.starts_with("servers/") && name.ends_with(".log") {
            let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            exp.logs.push(ServerLog {
                rel_path: rel,
                bytes,
                tail: tail_lines(&path, 40),
            });
        } else if rel == "summary.csv" {
            exp.has_summary_csv = true;
        }
    }
    Ok(exp)
}

/// Every file below `dir` (skipping hidden folders), depth first.
fn collect_all(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        match entry.file_type() {
            Ok(t) if t.is_dir() && !hidden => collect_all(&path, out),
            Ok(t) if t.is_file() => out.push(path),
            _ => {}
        }
    }
}

/// The last `n` lines of a text file (read from its last 64 KiB).
fn tail_lines(path: &Path, n: usize) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(64 * 1024);
    if f.seek(SeekFrom::Start(start)).is_err() {
        return String::new();
    }
    let mut buf = Vec::new();
    if f.read_to_end(&mut buf).is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
