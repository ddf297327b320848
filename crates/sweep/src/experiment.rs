//! The experiment folder as a whole: created fresh or resumed (never overwritten), and
//! `experiment.json`, llmsweep's record of what ran: version, commands, parameter files'
//! contents, times, host. A resume must use the same settings; a mismatch is refused and
//! named.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};

use llmsweep_core::layout::write_atomic;
use llmsweep_core::record::{read_json, to_json_pretty};

use crate::shard::Shard;
use crate::{leftovers, signals};

/// The file llmsweep keeps at the experiment root.
pub const EXPERIMENT_JSON: &str = "experiment.json";

/// The experiment folder's name when `-e` is not given: the local time, `YYYYMMDD_HHMMSS`.
pub fn default_experiment_name() -> String {
    chrono::Local::now().format("%Y%m%d_%H%M%S").to_string()
}

/// Check the experiment folder against `--resume`: without it, an existing folder is an
/// error (never overwrite); with it, a missing one is. Returns the folder's path; nothing
/// is created here.
pub fn check_experiment_dir(output_dir: &Path, name: &str, resume: bool) -> Result<PathBuf> {
    let dir = output_dir.join(name);
    if resume && !dir.is_dir() {
        bail!(
            "cannot resume: the experiment folder '{}' does not exist (check -o/--output-dir and -e/--experiment-name)",
            dir.display()
        );
    }
    if !resume && dir.exists() {
        bail!(
            "the experiment folder '{}' already exists; llmsweep never overwrites results. Add --resume to continue it, or choose another -e/--experiment-name",
            dir.display()
        );
    }
    Ok(dir)
}

/// What defines an experiment: the settings that must be the same when it is resumed.
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentIdentity {
    /// Sweep kind: "serve", "serve-sla", "serve-workload", "startup".
    pub kind: String,
    /// The settings, by name (commands as given, parameter file contents, run counts…).
    pub settings: Map<String, Value>,
}

impl ExperimentIdentity {
    /// Differences from what an existing `experiment.json` recorded, one line each.
    fn differences(&self, recorded: &Map<String, Value>) -> Vec<String> {
        let mut diffs = Vec::new();
        if recorded.get("kind").and_then(Value::as_str) != Some(self.kind.as_str()) {
            diffs.push(format!(
                "kind: recorded {}, now \"{}\"",
                recorded.get("kind").unwrap_or(&Value::Null),
                self.kind
            ));
        }
        for (k, now) in &self.settings {
            let was = recorded.get(k).unwrap_or(&Value::Null);
            if was != now {
                diffs.push(format!("{k}: recorded {}, now {}", short(was), short(now)));
            }
        }
        diffs
    }
}

/// A JSON value for a message, cut after 200 characters.
pub(crate) fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 200 {
        format!(
            "{}…",
            &s[..s.char_indices().nth(200).map(|(i, _)| i).unwrap_or(s.len())]
        )
    } else {
        s
    }
}

/// The host name, for the record.
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown".into())
}

/// Where a shard keeps the record of its own invocations (the shared `experiment.json`
/// is written once and only read afterwards, so that shards never race on it).
pub fn shard_record(dir: &Path, shard: Shard) -> std::path::PathBuf {
    dir.join(".llmsweep")
        .join(format!("shard-{}.json", shard.index))
}

/// Create `experiment.json` in a new experiment, or check it against a resumed one (a
/// folder made by vLLM's own sweep has none: it is then written). `extra` holds
/// descriptive fields that may change between invocations (resolved commands…). Creation
/// is atomic and happens once: concurrent shards see the first writer's file and check it;
/// a shard records its invocation in its own file ([`shard_record`]).
pub fn open_experiment(
    dir: &Path,
    identity: &ExperimentIdentity,
    extra: Map<String, Value>,
    argv: &[String],
    shard: Option<Shard>,
) -> Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the experiment folder '{}'", dir.display()))?;
    let path = dir.join(EXPERIMENT_JSON);
    let now = chrono::Local::now().to_rfc3339();
    let invocation = json!({"argv": argv, "started_at": now, "hostname": hostname(), "pid": std::process::id(), "shard": shard.map(|s| s.to_string())});
    if !path.exists() {
        let mut doc = Map::new();
        doc.insert("llmsweep_version".into(), json!(env!("CARGO_PKG_VERSION")));
        doc.insert("kind".into(), json!(identity.kind));
        for (k, v) in &identity.settings {
            doc.insert(k.clone(), v.clone());
        }
        doc.insert(
            "identity_keys".into(),
            json!(identity.settings.keys().collect::<Vec<_>>()),
        );
        for (k, v) in extra.clone() {
            doc.insert(k, v);
        }
        doc.insert("hostname".into(), json!(hostname()));
        doc.insert("started_at".into(), json!(now));
        doc.insert("finished_at".into(), Value::Null);
        let invocations = if shard.is_some() {
            json!([])
        } else {
            json!([invocation.clone()])
        };
        doc.insert("invocations".into(), invocations);
        let created = create_once(&path, to_json_pretty(&Value::Object(doc)).as_bytes())?;
        if created && shard.is_none() {
            return Ok(());
        }
    }
    // An existing experiment (or another shard created it first): the settings must match.
    let recorded = match read_json(&path)? {
        Value::Object(m) => m,
        _ => bail!(
            "'{}' is not a JSON object; was it written by llmsweep?",
            path.display()
        ),
    };
    let diffs = identity.differences(&recorded);
    if !diffs.is_empty() {
        bail!(
            "cannot {} '{}': it was started with other settings:\n  {}\nUse the same settings, or start a new experiment with another -e/--experiment-name",
            if shard.is_some() { "join" } else { "resume" },
            dir.display(),
            diffs.join("\n  ")
        );
    }
    if let Some(shard) = shard {
        shard.claim_count(dir)?;
        let record = shard_record(dir, shard);
        let mut doc = match read_json(&record) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        push_invocation(&mut doc, invocation);
        return write_atomic(&record, to_json_pretty(&Value::Object(doc)).as_bytes())
            .with_context(|| format!("cannot write '{}'", record.display()));
    }
    let mut doc = recorded;
    for (k, v) in extra {
        doc.insert(k, v);
    }
    push_invocation(&mut doc, invocation);
    doc.insert("finished_at".into(), Value::Null);
    write_atomic(&path, to_json_pretty(&Value::Object(doc)).as_bytes())
        .with_context(|| format!("cannot write '{}'", path.display()))
}

fn push_invocation(doc: &mut Map<String, Value>, invocation: Value) {
    match doc.get_mut("invocations") {
        Some(Value::Array(list)) => list.push(invocation),
        _ => {
            doc.insert("invocations".into(), json!([invocation]));
        }
    }
}

/// Write `path` only if it does not exist yet, atomically: a temporary file hard-linked
/// into place (a link fails if the target exists, even on shared file systems). Returns
/// whether this call created it.
fn create_once(path: &Path, contents: &[u8]) -> Result<bool> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{}.{}.tmp", EXPERIMENT_JSON, std::process::id()));
    std::fs::write(&tmp, contents).with_context(|| format!("cannot write '{}'", tmp.display()))?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e).with_context(|| format!("cannot create '{}'", path.display())),
    }
}

/// Record the end of this invocation: `finished_at` and its outcome, in `experiment.json`
/// (or in the shard's own record).
pub fn close_experiment(dir: &Path, outcome: &str, shard: Option<Shard>) -> Result<()> {
    let path = match shard {
        Some(s) => shard_record(dir, s),
        None => dir.join(EXPERIMENT_JSON),
    };
    let Value::Object(mut doc) = read_json(&path)? else {
        bail!("'{}' is not a JSON object", path.display());
    };
    let now = chrono::Local::now().to_rfc3339();
    if shard.is_none() {
        doc.insert("finished_at".into(), json!(now));
    }
    if let Some(Value::Array(list)) = doc.get_mut("invocations")
        && let Some(Value::Object(last)) = list.last_mut()
    {
        last.insert("finished_at".into(), json!(now));
        last.insert("outcome".into(), json!(outcome));
    }
    write_atomic(&path, to_json_pretty(&Value::Object(doc)).as_bytes())
        .with_context(|| format!("cannot write '{}'", path.display()))
}

/// One invocation of an experiment, as every sweep runs it.
#[derive(Debug)]
pub struct Invocation<'a> {
    /// The experiment folder.
    pub dir: &'a Path,
    /// The settings a resume must repeat.
    pub identity: &'a ExperimentIdentity,
    /// Descriptive fields for `experiment.json`.
    pub description: Map<String, Value>,
    /// The command line as typed.
    pub argv: &'a [String],
    /// This process's shard, if any.
    pub shard: Option<Shard>,
    /// True when earlier work is continued (`--resume`, or a shard).
    pub resuming: bool,
    /// The command that continues the experiment.
    pub resume_command: String,
}

/// Run `body` as one invocation of an experiment: install signal handling, create or
/// check `experiment.json`, clean up after a killed earlier invocation (temporary files,
/// servers left running), and record the outcome. On error, the message ends with the
/// command that resumes; after Ctrl-C or SIGTERM the signal watcher ends the process.
pub fn run_invocation<T>(
    inv: Invocation<'_>,
    body: impl FnOnce() -> Result<T>,
    failed: impl Fn(&T) -> bool,
) -> Result<T> {
    let (dir, shard) = (inv.dir, inv.shard);
    signals::install().context("cannot install signal handlers")?;
    signals::set_resume_hint(inv.resume_command.clone());
    open_experiment(dir, inv.identity, inv.description, inv.argv, shard)?;
    // Mark every process we start, so that a later invocation finds whatever a killed one
    // left behind, wrapper scripts' children included.
    let marker = leftovers::owner_marker(dir, shard)
        .with_context(|| format!("cannot write the owner token under '{}'", dir.display()))?;
    crate::process::set_child_env(vec![
        (leftovers::OWNER_ENV.to_string(), marker.clone()),
        (leftovers::OWNER_PID_ENV.to_string(), leftovers::owner_pid()),
    ]);
    if inv.resuming && shard.is_none() {
        // Other shards may be writing now: only a plain resume sweeps temporary files.
        clean_stale_temp_files(dir);
    }
    let mut stopped = leftovers::stop_marked(&marker, leftovers::LEFTOVER_GRACE);
    stopped.extend(leftovers::stop_leftovers(dir, shard));
    for msg in stopped {
        crate::console::line(&format!("llmsweep: {msg}"));
    }
    match body() {
        Ok(outcome) => {
            let text = if failed(&outcome) {
                "completed with failures"
            } else {
                "completed"
            };
            close_experiment(dir, text, shard)?;
            Ok(outcome)
        }
        Err(_) if signals::interrupted() => signals::wait_for_shutdown(),
        Err(e) => {
            let _ = close_experiment(dir, &format!("stopped: {e:#}"), shard);
            // The cause first; the resume command alone on the last line, to be pasted.
            Err(anyhow::anyhow!(
                "{e:#}\nThe sweep stopped early; nothing that finished is lost. Resume with:\n  {}",
                inv.resume_command
            ))
        }
    }
}

/// Remove temporary files a killed invocation may have left (`.*.tmp`) below `dir`.
pub fn clean_stale_temp_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if path.is_dir() {
            clean_stale_temp_files(&path);
        } else if name.starts_with('.') && name.ends_with(".tmp") {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(runs: u32) -> ExperimentIdentity {
        let mut settings = Map::new();
        settings.insert("num_runs".into(), json!(runs));
        settings.insert("serve_params".into(), json!([{"a": 1}]));
        ExperimentIdentity {
            kind: "serve".into(),
            settings,
        }
    }

    #[test]
    fn fresh_and_resume_rules() {
        let out = tempfile::tempdir().unwrap();
        assert!(
            check_experiment_dir(out.path(), "x", true)
                .unwrap_err()
                .to_string()
                .contains("does not exist")
        );
        let dir = check_experiment_dir(out.path(), "x", false).unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        assert!(
            check_experiment_dir(out.path(), "x", false)
                .unwrap_err()
                .to_string()
                .contains("--resume")
        );
        assert_eq!(check_experiment_dir(out.path(), "x", true).unwrap(), dir);
    }

    #[test]
    fn resume_refuses_other_settings() {
        let out = tempfile::tempdir().unwrap();
        let dir = out.path().join("e");
        open_experiment(&dir, &identity(3), Map::new(), &["llmsweep".into()], None).unwrap();
        open_experiment(
            &dir,
            &identity(3),
            Map::new(),
            &["llmsweep".into(), "--resume".into()],
            None,
        )
        .unwrap();
        let doc = read_json(&dir.join(EXPERIMENT_JSON)).unwrap();
        assert_eq!(doc["invocations"].as_array().unwrap().len(), 2);
        assert_eq!(doc["identity_keys"], json!(["num_runs", "serve_params"]));
        let e = open_experiment(&dir, &identity(1), Map::new(), &[], None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("num_runs: recorded 3, now 1"), "{e}");
        close_experiment(&dir, "completed", None).unwrap();
        let doc = read_json(&dir.join(EXPERIMENT_JSON)).unwrap();
        assert!(doc["finished_at"].is_string());
        assert_eq!(doc["invocations"][1]["outcome"], "completed");
    }

    #[test]
    fn shards_share_one_record_and_keep_their_own() {
        let out = tempfile::tempdir().unwrap();
        let dir = out.path().join("e");
        let s0 = Shard { index: 0, count: 2 };
        let s1 = Shard { index: 1, count: 2 };
        open_experiment(&dir, &identity(3), Map::new(), &["a".into()], Some(s1)).unwrap();
        open_experiment(&dir, &identity(3), Map::new(), &["b".into()], Some(s0)).unwrap();
        close_experiment(&dir, "completed", Some(s0)).unwrap();
        let shared = read_json(&dir.join(EXPERIMENT_JSON)).unwrap();
        assert_eq!(shared["invocations"], json!([]));
        let own = read_json(&shard_record(&dir, s0)).unwrap();
        assert_eq!(own["invocations"][0]["argv"], json!(["b"]));
        assert_eq!(own["invocations"][0]["outcome"], "completed");
        let e = open_experiment(&dir, &identity(2), Map::new(), &[], Some(s1)).unwrap_err();
        assert!(e.to_string().contains("cannot join"), "{e}");
    }

    #[test]
    fn stale_temp_files_are_removed() {
        let out = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(out.path().join("a")).unwrap();
        std::fs::write(out.path().join("a/.run=0.json.x.tmp"), "").unwrap();
        std::fs::write(out.path().join("a/run=0.json"), "{}").unwrap();
        clean_stale_temp_files(out.path());
        assert!(!out.path().join("a/.run=0.json.x.tmp").exists());
        assert!(out.path().join("a/run=0.json").exists());
    }
}
