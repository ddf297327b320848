//! Running one benchmark (vLLM's `run_benchmark`) and one combination's runs: warm-up,
//! `--num-runs` measured runs, cache resets between them, the annotated `run=N.json`
//! files, failures, `summary.json`, and `--resume`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{Value, json};

use llmsweep_core::layout::{
    SUMMARY_JSON, WARMUP_FAILURE_FILE, WARMUP_FILE, run_failure_file_name, run_file_name,
    write_atomic,
};
use llmsweep_core::params::ParamItem;
use llmsweep_core::record::{Record, parse_json_lenient, read_record_list, to_json_pretty};

use crate::plan::Combination;
use crate::process::{Output, Supervised, describe_status, quote_cmd, tail_lines};
use crate::progress::Ui;
use crate::server::Server;
use crate::signals;

/// Lines of a benchmark's output quoted when it fails.
const BENCH_TAIL_LINES: usize = 15;

/// A run that went wrong, with a stable type name for its failure file.
#[derive(Debug, Clone)]
pub struct Failure {
    /// What kind of failure: `BenchmarkFailed`, `ResultMissing`, `InvalidResult`,
    /// `CacheResetFailed`, `ServerDied`, `ServerStartFailed`.
    pub error_type: &'static str,
    /// What happened, with the command and log excerpts needed to understand it.
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Why a run or combination stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The run failed; the server is still up.
    #[error("{0}")]
    Failed(Failure),
    /// The server died: nothing more can run on it.
    #[error("{0}")]
    ServerDied(Failure),
    /// Ctrl-C or SIGTERM.
    #[error("interrupted")]
    Interrupted,
}

/// How benchmarks are run.
#[derive(Debug, Clone)]
pub struct BenchSettings {
    /// The benchmark command template.
    pub bench_cmd: Vec<String>,
    /// Echo benchmark output (`--show-stdout`).
    pub show_stdout: bool,
    /// Record failures and go on (`--continue-on-error`).
    pub continue_on_error: bool,
}

/// The flags vLLM's sweep appends to every benchmark command.
pub fn result_flags(output_path: &Path) -> Vec<String> {
    let dir = output_path.parent().unwrap_or(Path::new("."));
    let name = output_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    vec![
        "--percentile-metrics".into(),
        "ttft,tpot,itl,e2el".into(),
        "--save-result".into(),
        "--result-dir".into(),
        dir.to_string_lossy().into_owned(),
        "--result-filename".into(),
        name,
    ]
}

/// The full benchmark command for one run.
pub fn bench_command(bench_cmd: &[String], bench: &ParamItem, output_path: &Path) -> Vec<String> {
    let mut argv = bench.apply_to_cmd(bench_cmd);
    argv.extend(result_flags(output_path));
    argv
}

/// Add `run_number` and every serve and bench parameter to a result (parameters win over
/// same-named result keys, the bench item over the serve item), as vLLM does.
pub fn annotate(
    mut record: Record,
    run_number: i64,
    serve: &ParamItem,
    bench: &ParamItem,
) -> Record {
    record.insert("run_number".into(), json!(run_number));
    for (k, v) in serve.as_map().iter().chain(bench.as_map().iter()) {
        record.insert(k.clone(), v.clone());
    }
    record
}

/// A result file left by an earlier invocation: annotated (done), bench-written but not
/// annotated (the sweep was killed in between: annotate it), or unreadable (a partial
/// write: run again).
pub fn existing_result(path: &Path) -> Option<Record> {
    let text = std::fs::read_to_string(path).ok()?;
    match parse_json_lenient(&text) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    }
}

/// Run one benchmark and return its annotated result. An existing result file is reused
/// (`--resume`). The server's caches are reset afterwards, whatever the outcome.
pub fn run_benchmark(
    server: &mut Server,
    settings: &BenchSettings,
    serve: &ParamItem,
    bench: &ParamItem,
    run_number: i64,
    output_path: &Path,
    ui: &Ui,
) -> Result<Record, RunError> {
    if let Some(found) = existing_result(output_path) {
        let annotated = found.contains_key("run_number");
        let record = annotate(found, run_number, serve, bench);
        if !annotated {
            write_record(output_path, &record).map_err(RunError::Failed)?;
        }
        return Ok(record);
    }
    if output_path.exists() {
        ui.line(&format!(
            "  {} is incomplete (an interrupted write); running it again",
            output_path.display()
        ));
        let _ = std::fs::remove_file(output_path);
    }
    let argv = bench_command(&settings.bench_cmd, bench, output_path);
    let log_path = output_path.with_extension("log");
    let _ = std::fs::remove_file(&log_path);
    let output = if settings.show_stdout {
        Output::LogAndEcho(log_path.clone())
    } else {
        Output::Log(log_path.clone())
    };
    let started = Instant::now();
    let outcome = Supervised::spawn(&argv, &[], &output, "--bench-cmd")
        .and_then(|mut p| wait_watching_server(&mut p, server));
    if signals::interrupted() {
        return Err(RunError::Interrupted);
    }
    // The server may have died under the benchmark: that explains its failure best, and
    // whatever the benchmark measured is not a measurement of a healthy server. Its result
    // file is kept aside for inspection, out of --resume's way.
    if let Err(e) = server.check_alive() {
        let mut message = format!("the server died during this run: {e:#}");
        if let Some(kept) = set_aside_result(output_path) {
            message.push_str(&format!(
                "\nthe benchmark's result is kept as {} and not counted",
                kept.display()
            ));
        }
        return Err(RunError::ServerDied(Failure {
            error_type: "ServerDied",
            message,
        }));
    }
    let reset = server.after_bench();
    let status = outcome.map_err(|e| {
        RunError::Failed(Failure {
            error_type: "BenchmarkFailed",
            message: format!("{e:#}"),
        })
    })?;
    if !status.success() {
        return Err(RunError::Failed(Failure {
            error_type: "BenchmarkFailed",
            message: format!(
                "the benchmark command failed with {} after {:.1} s: {}\nlast lines of its output ({}):\n{}",
                describe_status(status),
                started.elapsed().as_secs_f64(),
                quote_cmd(&argv),
                log_path.display(),
                tail_lines(&log_path, BENCH_TAIL_LINES)
            ),
        }));
    }
    let text = std::fs::read_to_string(output_path).map_err(|_| {
        RunError::Failed(Failure {
            error_type: "ResultMissing",
            message: format!(
                "the benchmark command exited successfully but wrote no result file {}: {}\nlast lines of its output ({}):\n{}",
                output_path.display(),
                quote_cmd(&argv),
                log_path.display(),
                tail_lines(&log_path, BENCH_TAIL_LINES)
            ),
        })
    })?;
    let record = match parse_json_lenient(&text) {
        Ok(Value::Object(m)) => m,
        Ok(other) => {
            return Err(invalid_result(
                output_path,
                &format!(
                    "expected a JSON object, found {}",
                    llmsweep_core::params::json_type(&other)
                ),
            ));
        }
        Err(e) => {
            // vLLM's --append-result writes JSON Lines: take the last object.
            match text
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(parse_json_lenient)
            {
                Some(Ok(Value::Object(m)))
                    if text.lines().filter(|l| !l.trim().is_empty()).count() > 1 =>
                {
                    m
                }
                _ => return Err(invalid_result(output_path, &e.to_string())),
            }
        }
    };
    reset.map_err(|e| {
        RunError::Failed(Failure {
            error_type: "CacheResetFailed",
            message: format!("{e:#}"),
        })
    })?;
    let record = annotate(record, run_number, serve, bench);
    write_record(output_path, &record).map_err(RunError::Failed)?;
    Ok(record)
}

/// Move a result file that must not count (its server died during the run) out of
/// `--resume`'s way, to `run=N.server-died.json`; remove it if that fails. Returns where it
/// is kept.
fn set_aside_result(output_path: &Path) -> Option<PathBuf> {
    if !output_path.exists() {
        return None;
    }
    let kept = output_path.with_extension("server-died.json");
    if std::fs::rename(output_path, &kept).is_ok() {
        Some(kept)
    } else {
        let _ = std::fs::remove_file(output_path);
        None
    }
}

/// How often the server is checked while a benchmark runs.
const SERVER_WATCH: std::time::Duration = std::time::Duration::from_millis(100);
/// How long a benchmark gets to exit after SIGTERM once its server is dead.
const BENCH_STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Wait for a benchmark, watching its server: if the server dies meanwhile, the run is
/// lost anyway (the caller records it as failed), so the benchmark is stopped rather than
/// left to time out on a dead port.
fn wait_watching_server(
    bench: &mut Supervised,
    server: &mut Server,
) -> anyhow::Result<std::process::ExitStatus> {
    loop {
        if let Some(status) = bench.try_exit() {
            return Ok(status);
        }
        if server.check_alive().is_err() {
            if let Some(status) = bench.stop(BENCH_STOP_GRACE) {
                return Ok(status);
            }
            return bench.wait();
        }
        std::thread::sleep(SERVER_WATCH);
    }
}

fn invalid_result(path: &Path, why: &str) -> RunError {
    // Keep the bad file for inspection, out of --resume's way.
    let kept = path.with_extension("invalid.json");
    let _ = std::fs::rename(path, &kept);
    RunError::Failed(Failure {
        error_type: "InvalidResult",
        message: format!(
            "the benchmark's result file {} is not valid: {why} (kept as {})",
            path.display(),
            kept.display()
        ),
    })
}

fn write_record(path: &Path, record: &Record) -> Result<(), Failure> {
    write_atomic(
        path,
        to_json_pretty(&Value::Object(record.clone())).as_bytes(),
    )
    .map_err(|e| Failure {
        error_type: "WriteFailed",
        message: format!("cannot write '{}': {e}", path.display()),
    })
}

/// Write a run's failure file (`run=N.failure.json`), as vLLM does with
/// `--continue-on-error`.
pub fn write_run_failure(
    path: &Path,
    run_number: i64,
    failure: &Failure,
    serve: &ParamItem,
    bench: &ParamItem,
) -> std::io::Result<()> {
    let doc = json!({
        "run_number": run_number,
        "error_type": failure.error_type,
        "error": failure.message,
        "serve_overrides": Value::Object(serve.as_map().clone()),
        "bench_overrides": Value::Object(bench.as_map().clone()),
    });
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

/// Write a server's failure file (`SERVE-<name>-failure.json`).
pub fn write_server_failure(
    path: &Path,
    failure: &Failure,
    serve: &ParamItem,
) -> std::io::Result<()> {
    let doc = json!({
        "error_type": failure.error_type,
        "error": failure.message,
        "serve_overrides": Value::Object(serve.as_map().clone()),
    });
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

/// What one combination produced.
#[derive(Debug, Clone, Default)]
pub struct ComboOutcome {
    /// Its successful runs, annotated.
    pub records: Vec<Record>,
    /// Runs that failed (with `--continue-on-error`).
    pub failed_runs: usize,
}

/// The summary file of a combination folder.
pub fn summary_path(dir: &Path) -> PathBuf {
    dir.join(SUMMARY_JSON)
}

/// A completed combination's runs, from its `summary.json`.
pub fn completed_runs(dir: &Path) -> Option<Vec<Record>> {
    let path = summary_path(dir);
    if !path.exists() {
        return None;
    }
    read_record_list(&path).ok()
}

/// How many of a combination's measured runs failed, as its folder tells: a failure file
/// (`run=N.failure.json`) and no result for that run.
pub fn failed_runs_on_disk(dir: &Path, num_runs: u32) -> usize {
    (0..num_runs)
        .filter(|r| {
            dir.join(run_failure_file_name(*r)).exists()
                && existing_result(&dir.join(run_file_name(*r))).is_none()
        })
        .count()
}

/// How many runs of a combination are still to do (warm-up included).
pub fn pending_runs(dir: &Path, num_runs: u32, warmup: bool) -> u64 {
    if summary_path(dir).exists() {
        return 0;
    }
    let mut n = (0..num_runs)
        .filter(|r| existing_result(&dir.join(run_file_name(*r))).is_none())
        .count() as u64;
    if warmup && existing_result(&dir.join(WARMUP_FILE)).is_none() {
        n += 1;
    }
    n
}

/// Run a combination: the optional warm-up (`num_prompts` = `warmup_prompts`, kept out of
/// the summary), then `num_runs` measured runs; write `summary.json` if any run succeeded.
pub fn run_combination(
    server: &mut Server,
    settings: &BenchSettings,
    serve: &ParamItem,
    comb: &Combination,
    num_runs: u32,
    warmup_prompts: u32,
    ui: &Ui,
) -> Result<ComboOutcome, RunError> {
    let dir = &comb.dir;
    std::fs::create_dir_all(dir).map_err(|e| {
        RunError::Failed(Failure {
            error_type: "WriteFailed",
            message: format!("cannot create '{}': {e}", dir.display()),
        })
    })?;
    let mut outcome = ComboOutcome::default();
    if warmup_prompts > 0 {
        let bench = comb.bench.with("num_prompts", json!(warmup_prompts));
        let path = dir.join(WARMUP_FILE);
        let fresh = !path.exists();
        match run_benchmark(server, settings, serve, &bench, -1, &path, ui) {
            Ok(_) => {
                let _ = std::fs::remove_file(dir.join(WARMUP_FAILURE_FILE));
            }
            Err(RunError::Failed(f)) if settings.continue_on_error => {
                ui.line(&format!("  warm-up failed: {f}"));
                let _ = write_run_failure(&dir.join(WARMUP_FAILURE_FILE), -1, &f, serve, &bench);
            }
            Err(RunError::ServerDied(f)) => {
                // Recorded whatever --continue-on-error says: the run is to be redone.
                let _ = write_run_failure(&dir.join(WARMUP_FAILURE_FILE), -1, &f, serve, &bench);
                return Err(RunError::ServerDied(f));
            }
            Err(e) => return Err(e),
        }
        if fresh {
            ui.run_done();
        }
    }
    for run in 0..num_runs {
        let path = dir.join(run_file_name(run));
        let fresh = existing_result(&path).is_none();
        ui.set_message(&format!(
            "{} · run {}/{}",
            display_name(dir),
            run + 1,
            num_runs
        ));
        let started = Instant::now();
        match run_benchmark(
            server,
            settings,
            serve,
            &comb.bench,
            i64::from(run),
            &path,
            ui,
        ) {
            Ok(record) => {
                let _ = std::fs::remove_file(dir.join(run_failure_file_name(run)));
                if fresh {
                    ui.line(&format!(
                        "  run {}/{} done in {:.1} s{}",
                        run + 1,
                        num_runs,
                        started.elapsed().as_secs_f64(),
                        headline(&record)
                    ));
                }
                outcome.records.push(record);
            }
            Err(RunError::Failed(f)) if settings.continue_on_error => {
                ui.line(&format!(
                    "  run {}/{} FAILED: {}",
                    run + 1,
                    num_runs,
                    first_line(&f.message)
                ));
                let _ = write_run_failure(
                    &dir.join(run_failure_file_name(run)),
                    i64::from(run),
                    &f,
                    serve,
                    &comb.bench,
                );
                outcome.failed_runs += 1;
            }
            Err(RunError::ServerDied(f)) => {
                // Recorded whatever --continue-on-error says, so that the folder tells why
                // this run is missing and --resume redoes it.
                let _ = write_run_failure(
                    &dir.join(run_failure_file_name(run)),
                    i64::from(run),
                    &f,
                    serve,
                    &comb.bench,
                );
                return Err(RunError::ServerDied(f));
            }
            Err(e) => return Err(e),
        }
        if fresh {
            ui.run_done();
        }
    }
    if outcome.records.is_empty() {
        ui.line(&format!(
            "  [NO SUCCESSFUL MEASURED RUNS] {} stays retryable with --resume",
            display_name(dir)
        ));
    } else {
        let list = Value::Array(outcome.records.iter().cloned().map(Value::Object).collect());
        write_atomic(&summary_path(dir), to_json_pretty(&list).as_bytes()).map_err(|e| {
            RunError::Failed(Failure {
                error_type: "WriteFailed",
                message: format!("cannot write '{}': {e}", summary_path(dir).display()),
            })
        })?;
    }
    Ok(outcome)
}

/// The folder name of a combination, for messages.
pub fn display_name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string())
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// A short summary of a run for the log: throughput and p99 latencies when present.
fn headline(record: &Record) -> String {
    let get = |k: &str| record.get(k).and_then(Value::as_f64);
    let mut parts = Vec::new();
    if let Some(v) = get("request_throughput") {
        parts.push(format!("{v:.2} req/s"));
    }
    if let Some(v) = get("output_throughput") {
        parts.push(format!("{v:.0} tok/s"));
    }
    if let Some(v) = get("p99_ttft_ms") {
        parts.push(format!("p99 TTFT {v:.1} ms"));
    }
    if let Some(v) = get("p99_e2el_ms") {
        parts.push(format!("p99 E2EL {v:.0} ms"));
    }
    match record.get("failed").and_then(Value::as_u64) {
        Some(n) if n > 0 => parts.push(format!("{n} failed requests")),
        _ => {}
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(": {}", parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(v: Value) -> ParamItem {
        ParamItem::new(v.as_object().unwrap().clone())
    }

    #[test]
    fn appended_flags_match_vllm() {
        let argv = bench_command(
            &["vllm".into(), "bench".into(), "serve".into()],
            &item(json!({"max_concurrency": 4})),
            Path::new("/e/c/run=0.json"),
        );
        assert_eq!(
            argv,
            [
                "vllm",
                "bench",
                "serve",
                "--max-concurrency",
                "4",
                "--percentile-metrics",
                "ttft,tpot,itl,e2el",
                "--save-result",
                "--result-dir",
                "/e/c",
                "--result-filename",
                "run=0.json"
            ]
        );
    }

    #[test]
    fn annotation_params_win() {
        let rec = json!({"request_rate": "inf", "completed": 5})
            .as_object()
            .unwrap()
            .clone();
        let serve = item(json!({"_benchmark_name": "s", "max_num_seqs": 8}));
        let bench = item(json!({"_benchmark_name": "b", "request_rate": 5}));
        let out = annotate(rec, 2, &serve, &bench);
        assert_eq!(
            Value::Object(out),
            json!({"request_rate": 5, "completed": 5, "run_number": 2, "_benchmark_name": "b", "max_num_seqs": 8})
        );
    }

    #[test]
    fn pending_counts_missing_runs() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(pending_runs(d.path(), 3, true), 4);
        std::fs::write(d.path().join("run=1.json"), "{}").unwrap();
        std::fs::write(d.path().join("run=2.json"), "{\"trunc").unwrap();
        assert_eq!(pending_runs(d.path(), 3, false), 2);
        std::fs::write(d.path().join("summary.json"), "[]").unwrap();
        assert_eq!(pending_runs(d.path(), 3, false), 0);
    }

    #[test]
    fn a_result_of_a_run_whose_server_died_is_set_aside() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("run=0.json");
        assert_eq!(set_aside_result(&path), None);
        std::fs::write(&path, r#"{"completed": 12, "failed": 8}"#).unwrap();
        let kept = set_aside_result(&path).unwrap();
        assert_eq!(kept, d.path().join("run=0.server-died.json"));
        assert!(!path.exists() && kept.exists());
        // --resume sees no result for the run: it is redone.
        assert_eq!(pending_runs(d.path(), 1, false), 1);
    }

    #[test]
    fn failed_runs_are_counted_from_the_folder() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(failed_runs_on_disk(d.path(), 3), 0);
        std::fs::write(d.path().join("run=0.json"), "{}").unwrap();
        std::fs::write(d.path().join("run=1.failure.json"), "{}").unwrap();
        std::fs::write(d.path().join("run=2.failure.json"), "{}").unwrap();
        assert_eq!(failed_runs_on_disk(d.path(), 3), 2);
        // A run redone since: its result counts, not its old failure file.
        std::fs::write(d.path().join("run=2.json"), "{}").unwrap();
        assert_eq!(failed_runs_on_disk(d.path(), 3), 1);
        // Runs beyond --num-runs are not this sweep's.
        assert_eq!(failed_runs_on_disk(d.path(), 1), 0);
    }
}
