//! The merge's report for people: what was copied, what conflicts, what is missing or
//! failed and where its messages are, what was written, and what to do next.

use std::fmt;

use super::MergeReport;

/// At most this many conflicts are listed per folder; the rest are counted.
const CONFLICTS_SHOWN: usize = 20;

impl fmt::Display for MergeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let target = self.target.display();
        match &self.kind {
            Some(kind) => writeln!(
                f,
                "Merged {target} ({kind} sweep): {} of {} planned combinations complete, {} missing, {} failed.",
                self.complete,
                self.planned,
                self.missing.len(),
                self.planned - self.complete - self.missing.len()
            )?,
            None => writeln!(
                f,
                "Merged {target}: no experiment.json, so no plan to check against; summary.csv is rebuilt from every summary.json found."
            )?,
        }
        for copy in &self.copies {
            writeln!(
                f,
                "From {}: {} files copied, {} already there, {} in conflict.",
                copy.source.display(),
                copy.copied.len(),
                copy.identical,
                copy.conflicts.len()
            )?;
            for rel in copy.conflicts.iter().take(CONFLICTS_SHOWN) {
                writeln!(
                    f,
                    "  conflict: {} differs; kept the one in {target}",
                    rel.display()
                )?;
            }
            if copy.conflicts.len() > CONFLICTS_SHOWN {
                writeln!(
                    f,
                    "  … and {} more conflicts",
                    copy.conflicts.len() - CONFLICTS_SHOWN
                )?;
            }
        }
        if !self.missing.is_empty() {
            writeln!(f, "\nMissing ({}):", self.missing.len())?;
            for m in &self.missing {
                writeln!(f, "  - {}: {}", m.name, m.what.join("; "))?;
            }
        }
        if !self.failed.is_empty() {
            writeln!(
                f,
                "\nFailed ({}), messages in the files named:",
                self.failed.len()
            )?;
            for failed in &self.failed {
                writeln!(f, "  - {}", failed.name)?;
                for note in &failed.notes {
                    writeln!(f, "      {}: {}", note.file.display(), note.message)?;
                }
            }
        }
        if !self.unplanned.is_empty() {
            writeln!(
                f,
                "\nNot in the plan, added last to summary.csv ({}):",
                self.unplanned.len()
            )?;
            for p in &self.unplanned {
                writeln!(f, "  - {}", p.display())?;
            }
        }
        if !self.problems.is_empty() {
            writeln!(f, "\nProblems ({}):", self.problems.len())?;
            for p in &self.problems {
                writeln!(f, "  - {p}")?;
            }
        }
        writeln!(f)?;
        match &self.summary_csv {
            Some((path, rows)) => writeln!(f, "Wrote {} ({rows} runs).", path.display())?,
            None => writeln!(f, "No run found: no summary.csv written.")?,
        }
        if let Some((path, answers)) = &self.sla_results {
            writeln!(
                f,
                "Wrote {} and its .csv ({answers} SLA answers).",
                path.display()
            )?;
        }
        if self.is_complete() {
            write!(
                f,
                "Complete. Plot it with `llmsweep plot {target}`, or `llmsweep report {target}`."
            )
        } else {
            write!(
                f,
                "Incomplete. Run the shards again (they resume where they stopped), then merge again."
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::super::{CopyOutcome, Failed, FailureNote, MergeReport, Missing};

    fn report() -> MergeReport {
        MergeReport {
            target: PathBuf::from("/r/e"),
            kind: Some("serve".into()),
            copies: vec![CopyOutcome {
                source: PathBuf::from("/s/e"),
                copied: vec![PathBuf::from("a/run=0.json")],
                identical: 2,
                conflicts: vec![PathBuf::from("servers/x.log")],
            }],
            planned: 4,
            complete: 2,
            missing: vec![Missing {
                name: "SERVE--a=2".into(),
                what: vec!["not run".into()],
            }],
            failed: vec![Failed {
                name: "SERVE--a=3".into(),
                notes: vec![FailureNote {
                    file: PathBuf::from("SERVE--a=3/run=0.failure.json"),
                    message: "BenchmarkFailed: exit 1".into(),
                }],
            }],
            unplanned: vec![],
            problems: vec![],
            summary_csv: Some((PathBuf::from("/r/e/summary.csv"), 6)),
            sla_results: None,
        }
    }

    #[test]
    fn says_what_is_missing_failed_and_where() {
        let text = report().to_string();
        for expected in [
            "Merged /r/e (serve sweep): 2 of 4 planned combinations complete, 1 missing, 1 failed.",
            "From /s/e: 1 files copied, 2 already there, 1 in conflict.",
            "conflict: servers/x.log differs; kept the one in /r/e",
            "Missing (1):\n  - SERVE--a=2: not run",
            "  - SERVE--a=3\n      SERVE--a=3/run=0.failure.json: BenchmarkFailed: exit 1",
            "Wrote /r/e/summary.csv (6 runs).",
            "Incomplete.",
        ] {
            assert!(text.contains(expected), "{expected:?} not in:\n{text}");
        }
        let mut done = report();
        done.missing.clear();
        done.failed.clear();
        done.complete = 4;
        assert!(done.to_string().ends_with("`llmsweep report /r/e`."));
    }
}
