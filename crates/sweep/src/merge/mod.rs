//! `llmsweep merge`: one experiment from the shards of a sweep.
//!
//! Shards write into one experiment folder on a shared file system, or into separate
//! folders. [`merge_experiments`] takes the folders — the first is the target — and:
//!
//! 1. refuses folders that ran different sweeps (their `experiment.json` differ in kind or
//!    in a setting listed in `identity_keys`: [`identity`]);
//! 2. copies into the target every file of the other folders that it lacks, reporting
//!    files present in both with different contents ([`copy`]);
//! 3. rebuilds the plan from `experiment.json` ([`expected`]) and finds what is missing
//!    and what failed (`*.failure.json`, `SERVE-*-failure.json`);
//! 4. rewrites `summary.csv` from every combination's `summary.json`, in the order of a
//!    one-process sweep, and for `serve-sla` `sla_results.json`/`.csv` from every shard's
//!    answers ([`sla_results`]).
//!
//! A folder without `experiment.json` (made by vLLM's own sweep) merges alone: its
//! `summary.csv` is rebuilt from the `summary.json` files found, in path order.
//!
//! A file present in two folders with different contents is a conflict: the target's copy
//! is kept and the merge is not complete (exit status 1), since one of the two results is
//! then silently lost. Byte-identical files are not conflicts.
//!
//! A shard whose runs all failed writes no `summary-shard-K.csv`, as a sweep whose runs all
//! failed writes no `summary.csv`: a CSV's columns come from its runs' metrics, and there
//! are none. Nothing is lost: the merge never reads the shard CSVs (it rebuilds
//! `summary.csv` from every `summary.json`) and lists that shard's failures with their
//! messages from the `*failure.json` files.

mod copy;
mod expected;
mod identity;
mod report;
mod sla_results;

pub use copy::CopyOutcome;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use llmsweep_core::layout::{SUMMARY_CSV, SUMMARY_JSON, write_atomic};
use llmsweep_core::record::{Record, find_files, read_json, read_record_list};

use crate::experiment::EXPERIMENT_JSON;
use crate::runner::summary_path;
use crate::serve::write_summary_csv_at;
use crate::sla::{SLA_RESULTS_CSV, SLA_RESULTS_JSON, write_sla_results};

use self::expected::{Expected, expected};

/// A planned combination that lacks results.
#[derive(Debug, Clone, PartialEq)]
pub struct Missing {
    /// The combination's folder, relative to the experiment.
    pub name: String,
    /// What it lacks, one phrase each.
    pub what: Vec<String>,
}

/// One failure file and what it says.
#[derive(Debug, Clone, PartialEq)]
pub struct FailureNote {
    /// The file, relative to the experiment.
    pub file: PathBuf,
    /// Its error type and its message, every line of it.
    pub message: String,
}

/// A combination (or a folder outside the plan) with failure files.
#[derive(Debug, Clone, PartialEq)]
pub struct Failed {
    /// The combination's folder, relative to the experiment.
    pub name: String,
    /// Its failure files.
    pub notes: Vec<FailureNote>,
}

/// What a merge found and wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeReport {
    /// The merged experiment folder (the first folder given).
    pub target: PathBuf,
    /// The sweep's kind, from `experiment.json` (`None`: the folder has none).
    pub kind: Option<String>,
    /// What copying each other folder did.
    pub copies: Vec<CopyOutcome>,
    /// Planned combinations (0 without `experiment.json`).
    pub planned: usize,
    /// Planned combinations with every result and no failure.
    pub complete: usize,
    /// Planned combinations that lack results (and recorded no failure).
    pub missing: Vec<Missing>,
    /// Combinations with failure files.
    pub failed: Vec<Failed>,
    /// `summary.json` files outside the plan, added last to `summary.csv`, relative to
    /// the experiment.
    pub unplanned: Vec<PathBuf>,
    /// Files that could not be read, and other trouble; each left out.
    pub problems: Vec<String>,
    /// `summary.csv` and its number of rows, if any run was found.
    pub summary_csv: Option<(PathBuf, usize)>,
    /// `sla_results.json` and its number of answers (`serve-sla` with answers).
    pub sla_results: Option<(PathBuf, usize)>,
}

impl MergeReport {
    /// Every planned combination complete, nothing failed, every file read, and no file
    /// in conflict between the folders.
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty()
            && self.failed.is_empty()
            && self.problems.is_empty()
            && self.conflicts() == 0
    }

    /// Files present in two folders with different contents, over every folder copied.
    pub fn conflicts(&self) -> usize {
        self.copies.iter().map(|c| c.conflicts.len()).sum()
    }
}

/// Merge `dirs` into the first: see the module documentation. Folders that do not exist,
/// are named twice or ran different sweeps are refused before anything is written;
/// otherwise everything that can be written is, and the report says what is missing or
/// failed.
pub fn merge_experiments(dirs: &[PathBuf]) -> Result<MergeReport> {
    let (target, sources) = match dirs {
        [] => bail!("name at least one experiment folder to merge"),
        [target, sources @ ..] => (target.as_path(), sources),
    };
    check_folders(target, sources)?;
    let target_is_empty = std::fs::read_dir(target).map_or(true, |mut d| d.next().is_none());
    let mut folders = Vec::new();
    for dir in dirs {
        let doc = if dir.exists() {
            identity::read_experiment(dir)?
        } else {
            None
        };
        folders.push((dir.clone(), doc));
    }
    let doc = identity::check_same_sweep(&folders, target_is_empty)?;
    std::fs::create_dir_all(target)
        .with_context(|| format!("cannot create '{}'", target.display()))?;
    if folders[0].1.is_none()
        && let Some((from, _)) = folders.iter().find(|(_, d)| d.is_some())
    {
        // A new target takes the record of the sweep merged into it.
        let bytes = std::fs::read(from.join(EXPERIMENT_JSON))
            .with_context(|| format!("cannot read '{}'", from.join(EXPERIMENT_JSON).display()))?;
        write_atomic(&target.join(EXPERIMENT_JSON), &bytes).with_context(|| {
            format!("cannot write '{}'", target.join(EXPERIMENT_JSON).display())
        })?;
    }
    let copies = sources
        .iter()
        .map(|s| copy::copy_missing(s, target))
        .collect::<Result<Vec<_>>>()?;
    let kind = doc
        .as_ref()
        .and_then(|d| d.get("kind"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut plan = match &doc {
        Some(d) => expected(target, d)?,
        None => Expected::default(),
    };
    let mut problems = Vec::new();
    let sla_results = if kind.as_deref() == Some("serve-sla") {
        rebuild_sla_results(target, &mut plan, &mut problems)?
    } else {
        None
    };
    let (records, unplanned) = summary_records(target, &plan, &mut problems)?;
    let summary_csv =
        write_summary_csv_at(target, SUMMARY_CSV, &records)?.map(|path| (path, records.len()));
    let failures = failure_files(target)?;
    let (missing, failed, complete) = statuses(target, &plan, &failures);
    Ok(MergeReport {
        target: target.to_path_buf(),
        kind,
        copies,
        planned: plan.combinations.len(),
        complete,
        missing,
        failed,
        unplanned,
        problems,
        summary_csv,
        sla_results,
    })
}

/// The folders must exist (the target may be new when others are merged into it), and
/// none may be given twice.
fn check_folders(target: &Path, sources: &[PathBuf]) -> Result<()> {
    let mut seen: Vec<(PathBuf, &Path)> = Vec::new();
    for dir in std::iter::once(target).chain(sources.iter().map(PathBuf::as_path)) {
        if !dir.exists() {
            if dir == target && !sources.is_empty() {
                continue;
            }
            bail!("the experiment folder '{}' does not exist", dir.display());
        }
        if !dir.is_dir() {
            bail!(
                "'{}' is not a folder; name experiment folders",
                dir.display()
            );
        }
        let real = dir
            .canonicalize()
            .with_context(|| format!("cannot resolve '{}'", dir.display()))?;
        if let Some((_, first)) = seen.iter().find(|(r, _)| *r == real) {
            bail!(
                "'{}' and '{}' are the same folder; name each folder once",
                first.display(),
                dir.display()
            );
        }
        seen.push((real, dir));
    }
    Ok(())
}

/// `sla_results.json` and `.csv` from every shard's answers; notes searches that ran but
/// whose answer no file holds.
fn rebuild_sla_results(
    target: &Path,
    plan: &mut Expected,
    problems: &mut Vec<String>,
) -> Result<Option<(PathBuf, usize)>> {
    let (entries, mut trouble) = sla_results::read_entries(&sla_results::result_files(target));
    problems.append(&mut trouble);
    let entries = sla_results::order_entries(entries, &plan.searches);
    for search in plan.searches.iter().filter(|s| s.searched) {
        if !sla_results::answered(&entries, search) {
            plan.combinations[search.combination].missing.push(format!(
                "no answer for {} in any sla_results file, though its SLA--….json exists (its shard stopped before writing them; run the shard again: it replays the search from disk)",
                search.criteria_text
            ));
        }
    }
    if entries.is_empty() {
        return Ok(None);
    }
    let json = target.join(SLA_RESULTS_JSON);
    write_sla_results(&json, &target.join(SLA_RESULTS_CSV), &entries)?;
    Ok(Some((json, entries.len())))
}

/// Every run for `summary.csv`: the planned folders' in plan order, then any other
/// `summary.json` below the experiment, in path order (returned, relative).
fn summary_records(
    target: &Path,
    plan: &Expected,
    problems: &mut Vec<String>,
) -> Result<(Vec<Record>, Vec<PathBuf>)> {
    let mut found = Vec::new();
    find_files(target, SUMMARY_JSON, &mut found)
        .with_context(|| format!("cannot list '{}'", target.display()))?;
    found.sort();
    let planned: Vec<PathBuf> = plan
        .summary_dirs
        .iter()
        .map(|d| summary_path(d))
        .filter(|p| p.exists())
        .collect();
    let unplanned: Vec<PathBuf> = found.into_iter().filter(|p| !planned.contains(p)).collect();
    let mut records = Vec::new();
    for path in planned.iter().chain(&unplanned) {
        match read_record_list(path) {
            Ok(runs) => records.extend(runs),
            Err(e) => problems.push(format!("{e}; its runs are left out of summary.csv")),
        }
    }
    let relative = unplanned
        .iter()
        .map(|p| p.strip_prefix(target).unwrap_or(p).to_path_buf())
        .collect();
    Ok((records, relative))
}

/// Is `path` a server's failure file, `SERVE-<name>-failure.json` at the root?
fn is_server_failure(path: &Path, target: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.parent() == Some(target) && name.starts_with("SERVE-") && name.ends_with("-failure.json")
}

/// Is `path` a failure file: a server's, or a run's `*.failure.json` anywhere?
fn is_failure_file(path: &Path, target: &Path) -> bool {
    path.to_string_lossy().ends_with(".failure.json") || is_server_failure(path, target)
}

/// Every failure file below the experiment (hidden folders aside), sorted.
fn failure_files(target: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    collect_failure_files(target, target, &mut out)?;
    out.sort();
    Ok(out)
}

fn collect_failure_files(dir: &Path, target: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot list '{}'", dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if !entry.file_name().to_string_lossy().starts_with('.') {
                collect_failure_files(&path, target, out)?;
            }
        } else if is_failure_file(&path, target) {
            out.push(path);
        }
    }
    Ok(())
}

/// A failure file's error type and its whole message (the cause is often on its last
/// lines: the tail of a server's log).
fn failure_message(path: &Path) -> String {
    match read_json(path) {
        Ok(doc) => {
            let kind = doc["error_type"].as_str().unwrap_or("failure");
            let text = doc["error"].as_str().unwrap_or("").trim_end();
            format!("{kind}: {text}")
        }
        Err(e) => format!("unreadable: {e}"),
    }
}

/// Sort the plan's combinations into missing, failed and complete. A server's failure
/// file counts for its combinations that lack results; failure files of no planned
/// combination are listed by their folder.
fn statuses(
    target: &Path,
    plan: &Expected,
    failures: &[PathBuf],
) -> (Vec<Missing>, Vec<Failed>, usize) {
    let note = |f: &PathBuf| FailureNote {
        file: f.strip_prefix(target).unwrap_or(f).to_path_buf(),
        message: failure_message(f),
    };
    let mut claimed = vec![false; failures.len()];
    let mut missing = Vec::new();
    let mut failed = Vec::new();
    let mut complete = 0;
    for comb in &plan.combinations {
        let mut notes = Vec::new();
        for (i, f) in failures.iter().enumerate() {
            let mine = if is_server_failure(f, target) {
                comb.server_failure.as_ref() == Some(f) && !comb.missing.is_empty()
            } else {
                comb.dirs.iter().any(|d| f.starts_with(d))
            };
            if mine {
                claimed[i] = true;
                notes.push(note(f));
            }
        }
        if !notes.is_empty() {
            failed.push(Failed {
                name: comb.name.clone(),
                notes,
            });
        } else if !comb.missing.is_empty() {
            missing.push(Missing {
                name: comb.name.clone(),
                what: comb.missing.clone(),
            });
        } else {
            complete += 1;
        }
    }
    for (f, _) in failures.iter().zip(&claimed).filter(|(_, c)| !**c) {
        // A planned server's failure whose combinations all have results is history.
        if plan
            .combinations
            .iter()
            .any(|c| c.server_failure.as_ref() == Some(f))
        {
            continue;
        }
        let folder = f.parent().unwrap_or(target);
        let name = match folder.strip_prefix(target) {
            Ok(rel) if !rel.as_os_str().is_empty() => rel.display().to_string(),
            _ => "(the experiment folder)".to_string(),
        };
        match failed.iter_mut().find(|x| x.name == name) {
            Some(x) => x.notes.push(note(f)),
            None => failed.push(Failed {
                name,
                notes: vec![note(f)],
            }),
        }
    }
    (missing, failed, complete)
}

#[cfg(test)]
mod tests;
