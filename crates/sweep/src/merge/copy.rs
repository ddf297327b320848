//! Bringing shards that ran into separate folders into one: every file of another folder
//! that the target lacks is copied in, atomically, one file at a time. A file present in
//! both with different contents is a conflict: the target's stays and the conflict is
//! reported. Files derived from the runs (summaries, SLA results, report, figures) are
//! never copied — the merge rebuilds them — and neither are files that only mean something
//! on the machine that wrote them (running servers' process groups, temporary files).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use llmsweep_core::layout::{SUMMARY_CSV, write_atomic};

use crate::experiment::EXPERIMENT_JSON;
use crate::sla::{SLA_RESULTS_CSV, SLA_RESULTS_JSON};

/// What the merge does with a file of another folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// A result, log or record: copied when the target lacks it.
    Copy,
    /// Rebuilt by the merge (root summaries, the report, figures): never copied.
    Derived,
    /// `experiment.json`: compared, not copied (the target keeps its own).
    Identity,
    /// Meaningful only where it was written: never copied.
    Local,
}

/// Root files the merge rebuilds.
const DERIVED_AT_ROOT: &[&str] = &[
    SUMMARY_CSV,
    SLA_RESULTS_JSON,
    SLA_RESULTS_CSV,
    "report.html",
];

/// Figure and page formats, wherever they are: drawn from the runs.
const DERIVED_EXTENSIONS: &[&str] = &["png", "svg", "pdf", "jpg", "jpeg", "html"];

/// The role of a file, by its path relative to its experiment folder.
pub(super) fn role(rel: &Path) -> Role {
    let name = rel
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let at_root = rel.parent().is_none_or(|p| p.as_os_str().is_empty());
    let in_records = rel.starts_with(".llmsweep");
    if at_root && name == EXPERIMENT_JSON {
        Role::Identity
    } else if name.starts_with('.') && name.ends_with(".tmp") {
        Role::Local
    } else if in_records && name.starts_with("servers") {
        // Process groups of servers running on the machine of that shard.
        Role::Local
    } else if in_records && name == "shards.json" {
        // How the source folder was split: separate folders may have been split differently,
        // and the merged folder is not split at all.
        Role::Local
    } else if (at_root && DERIVED_AT_ROOT.contains(&name.as_str()))
        || rel.extension().is_some_and(|e| {
            DERIVED_EXTENSIONS.contains(&e.to_string_lossy().to_lowercase().as_str())
        })
    {
        Role::Derived
    } else {
        Role::Copy
    }
}

/// What copying one folder into the target did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CopyOutcome {
    /// The folder copied from.
    pub source: PathBuf,
    /// Files copied in, relative to the folders.
    pub copied: Vec<PathBuf>,
    /// Files already in the target with the same contents.
    pub identical: usize,
    /// Files in both with different contents (the target's kept), relative to the folders.
    pub conflicts: Vec<PathBuf>,
}

/// Copy every file of `source` that `target` lacks (see [`role`]).
pub(super) fn copy_missing(source: &Path, target: &Path) -> Result<CopyOutcome> {
    let mut files = Vec::new();
    list_files(source, Path::new(""), &mut files)?;
    files.sort();
    let mut outcome = CopyOutcome {
        source: source.to_path_buf(),
        ..CopyOutcome::default()
    };
    for rel in files {
        if role(&rel) != Role::Copy {
            continue;
        }
        let from = source.join(&rel);
        let to = target.join(&rel);
        let bytes =
            std::fs::read(&from).with_context(|| format!("cannot read '{}'", from.display()))?;
        if to.exists() {
            let theirs =
                std::fs::read(&to).with_context(|| format!("cannot read '{}'", to.display()))?;
            if theirs == bytes {
                outcome.identical += 1;
            } else {
                outcome.conflicts.push(rel);
            }
            continue;
        }
        write_atomic(&to, &bytes)
            .with_context(|| format!("cannot copy '{}' to '{}'", from.display(), to.display()))?;
        outcome.copied.push(rel);
    }
    Ok(outcome)
}

/// Every regular file below `dir` (symbolic links to files included, to folders not: they
/// could loop), as paths relative to the folder first given.
fn list_files(dir: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot list '{}'", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list '{}'", dir.display()))?;
        let path = entry.path();
        let kind = entry
            .file_type()
            .with_context(|| format!("cannot inspect '{}'", path.display()))?;
        let rel = rel.join(entry.file_name());
        if kind.is_dir() {
            list_files(&path, &rel, out)?;
        } else if kind.is_file() || (kind.is_symlink() && path.is_file()) {
            out.push(rel);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_of_files() {
        for (path, expected) in [
            ("experiment.json", Role::Identity),
            ("summary.csv", Role::Derived),
            ("sla_results.json", Role::Derived),
            ("sla_results.csv", Role::Derived),
            ("report.html", Role::Derived),
            ("figures/p99-vs-rate.png", Role::Derived),
            ("x.SVG", Role::Derived),
            ("summary-shard-1.csv", Role::Copy),
            ("sla_results-shard-0.json", Role::Copy),
            ("SERVE--a=1/summary.json", Role::Copy),
            ("SERVE--a=1/summary.csv", Role::Copy),
            ("SERVE--a=1/experiment.json", Role::Copy),
            ("SERVE--a=1/run=0.failure.json", Role::Copy),
            ("SERVE-a=1-failure.json", Role::Copy),
            ("servers/SERVE--a=1.log", Role::Copy),
            (".llmsweep/shard-2.json", Role::Copy),
            (".llmsweep/servers-shard-2", Role::Local),
            (".llmsweep/servers", Role::Local),
            (".llmsweep/shards.json", Role::Local),
            ("SERVE--a=1/.run=0.json.x1y2.tmp", Role::Local),
        ] {
            assert_eq!(role(Path::new(path)), expected, "{path}");
        }
    }

    fn put(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn missing_files_are_copied_and_conflicts_keep_the_target() {
        let source = tempfile::tempdir().unwrap();
        let target = tempfile::tempdir().unwrap();
        let (s, t) = (source.path(), target.path());
        put(s, "experiment.json", "{\"theirs\": 1}");
        put(s, "summary.csv", "theirs");
        put(s, "summary-shard-1.csv", "rows of shard 1");
        put(s, "SERVE--a=2/run=0.json", "{}");
        put(s, "SERVE--a=2/summary.json", "[{}]");
        put(s, ".llmsweep/shard-1.json", "{}");
        put(s, ".llmsweep/servers-shard-1", "123\tvllm\n");
        put(s, "servers/SERVE--a=1.log", "their log");
        put(s, "same.txt", "same");
        put(t, "experiment.json", "{\"ours\": 1}");
        put(t, "servers/SERVE--a=1.log", "our log");
        put(t, "same.txt", "same");
        let outcome = copy_missing(s, t).unwrap();
        let copied: Vec<String> = outcome
            .copied
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        assert_eq!(
            copied,
            [
                ".llmsweep/shard-1.json",
                "SERVE--a=2/run=0.json",
                "SERVE--a=2/summary.json",
                "summary-shard-1.csv"
            ]
        );
        assert_eq!(outcome.conflicts, [PathBuf::from("servers/SERVE--a=1.log")]);
        assert_eq!(outcome.identical, 1);
        let read = |rel: &str| std::fs::read_to_string(t.join(rel)).unwrap();
        assert_eq!(read("servers/SERVE--a=1.log"), "our log");
        assert_eq!(read("experiment.json"), "{\"ours\": 1}");
        assert_eq!(read("SERVE--a=2/summary.json"), "[{}]");
        assert!(!t.join("summary.csv").exists());
        assert!(!t.join(".llmsweep/servers-shard-1").exists());
        // Copying again changes nothing.
        let again = copy_missing(s, t).unwrap();
        assert!(again.copied.is_empty());
        assert_eq!(again.identical, 5);
    }
}
