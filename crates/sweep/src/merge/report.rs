//! The merge's report for people: what was copied, what conflicts, what is missing or
//! failed and where its messages are, what was written, and what to do next.

use std::fmt;

use super::MergeReport;

/// At most this many conflicts are listed per folder; the rest are counted.
const CONFLICTS_SHOWN: usize = 20;

/// At most this many lines of a failure's message are shown: its first and its last ones
/// (where a log's tail ends with the cause); the file holds them all.
const MESSAGE_LINES: usize = 20;
const MESSAGE_HEAD: usize = 5;

/// A failure's message under its file name: the first line after `lead`, the others
/// indented below it, long messages cut in the middle.
fn write_message(f: &mut fmt::Formatter<'_>, lead: &str, message: &str) -> fmt::Result {
    let lines: Vec<&str> = message.lines().collect();
    let indent = " ".repeat(8);
    let first = lines.first().copied().unwrap_or("");
    writeln!(f, "{lead}{first}")?;
    let rest = lines.get(1..).unwrap_or(&[]);
    if lines.len() <= MESSAGE_LINES {
        for l in rest {
            writeln!(f, "{indent}{l}")?;
        }
        return Ok(());
    }
    let tail = MESSAGE_LINES - MESSAGE_HEAD;
    for l in &rest[..MESSAGE_HEAD - 1] {
        writeln!(f, "{indent}{l}")?;
    }
    writeln!(
        f,
        "{indent}… {} lines left out (the file holds them all) …",
        lines.len() - MESSAGE_HEAD - tail
    )?;
    for l in &lines[lines.len() - tail..] {
        writeln!(f, "{indent}{l}")?;
    }
    Ok(())
}

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
                    write_message(
                        f,
                        &format!("      {}: ", note.file.display()),
                        &note.message,
                    )?;
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
            return if self.kind.as_deref() == Some("startup") {
                // Start-up times have no throughput or latency curves to plot.
                write!(f, "Complete. See it with `llmsweep report {target}`.")
            } else {
                write!(
                    f,
                    "Complete. Plot it with `llmsweep plot {target}`, or `llmsweep report {target}`."
                )
            };
        }
        let mut verdict = Vec::new();
        if !self.missing.is_empty() || !self.failed.is_empty() {
            verdict.push(
                "Incomplete. Run the shards again (they resume where they stopped), then merge again."
                    .to_string(),
            );
        }
        let conflicts = self.conflicts();
        if conflicts > 0 {
            verdict.push(format!(
                "Not merged cleanly: {conflicts} files differ between the folders and only the copies in {target} were kept. The same combinations ran in more than one folder; compare the files listed, keep the results you want in {target}, and merge again."
            ));
        }
        if !self.problems.is_empty() {
            verdict.push(format!(
                "Incomplete: {} problems above; the files named were left out.",
                self.problems.len()
            ));
        }
        write!(f, "{}", verdict.join("\n"))
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
        // A conflict is not a clean merge.
        assert!(!done.is_complete());
        let text = done.to_string();
        assert!(!text.contains("Complete"), "{text}");
        assert!(
            text.ends_with(
                "Not merged cleanly: 1 files differ between the folders and only the copies in /r/e were kept. The same combinations ran in more than one folder; compare the files listed, keep the results you want in /r/e, and merge again."
            ),
            "{text}"
        );
        done.copies[0].conflicts.clear();
        assert!(done.is_complete());
        assert!(
            done.to_string().ends_with(
                "Complete. Plot it with `llmsweep plot /r/e`, or `llmsweep report /r/e`."
            )
        );
        done.kind = Some("startup".into());
        let text = done.to_string();
        assert!(text.ends_with("Complete. See it with `llmsweep report /r/e`."));
        assert!(!text.contains("llmsweep plot"), "{text}");
    }

    #[test]
    fn failure_messages_are_shown_whole_and_indented() {
        let mut r = report();
        r.failed[0].notes[0].message =
            "ServerFailed: the server exited; last lines of its log x.log:\nINFO starting\nerror: --strict: no effect: --bogus-flag".into();
        let text = r.to_string();
        assert!(
            text.contains(
                "      SERVE--a=3/run=0.failure.json: ServerFailed: the server exited; last lines of its log x.log:\n        INFO starting\n        error: --strict: no effect: --bogus-flag\n"
            ),
            "{text}"
        );
        // A long message keeps its first and last lines.
        let long: Vec<String> = (0..50).map(|i| format!("line {i}")).collect();
        r.failed[0].notes[0].message = long.join("\n");
        let text = r.to_string();
        assert!(
            text.contains("failure.json: line 0\n        line 1\n"),
            "{text}"
        );
        assert!(
            text.contains("        line 4\n        … 30 lines left out"),
            "{text}"
        );
        assert!(text.contains("        line 35\n"), "{text}");
        assert!(!text.contains("line 34\n"), "{text}");
        assert!(text.contains("        line 49\n"), "{text}");
        assert_eq!(text.matches("        line ").count(), 19);
    }
}
