//! End-to-end tests of `llmsweep serve` with small stand-in servers and benchmarks
//! (tests/support/fake-vllm, tests/support/fake-bench): the folder layout, resume,
//! failures, bad input, signals and orphans.

mod common;

use std::process::{Command, Stdio};

use nix::sys::signal::Signal;
use serde_json::Value;

use common::{
    Fixture, assert_no_process_mentions, llmsweep, read_json, run, signal_when, stderr, stdout,
    text, wait_for,
};

/// `llmsweep serve` with the fake server and bench, output under <tmp>/out, experiment "e".
fn serve(f: &Fixture, serve_extra: &str, bench_extra: &str, more: &[&str]) -> Command {
    let mut c = f.stand_in_sweep("serve", serve_extra, bench_extra);
    c.args(["--server-ready-timeout", "20"]).args(more);
    c
}

const SERVE_PARAMS: &str = r#"[{"max_num_seqs": 8}, {"max_num_seqs": 16}]"#;
const BENCH_PARAMS: &str = r#"[{"max_concurrency": 1}, {"max_concurrency": 4}]"#;

#[test]
fn a_sweep_writes_vllms_layout_and_resets_caches() {
    let f = Fixture::new();
    let sp = f.write("serve.json", SERVE_PARAMS);
    let bp = f.write("bench.json", BENCH_PARAMS);
    let o = run(serve(
        &f,
        "",
        "",
        &[
            "--serve-params",
            sp.to_str().unwrap(),
            "--bench-params",
            bp.to_str().unwrap(),
            "--num-runs",
            "2",
        ],
    ));
    assert!(o.status.success(), "{}", text(&o));
    let exp = f.exp();
    for s in [8, 16] {
        for c in [1, 4] {
            let comb = exp.join(format!(
                "SERVE--max_num_seqs={s}-BENCH--max_concurrency={c}"
            ));
            for r in 0..2 {
                let run = read_json(&comb.join(format!("run={r}.json")));
                assert_eq!(run["run_number"], r);
                assert_eq!(run["max_num_seqs"], s);
                assert_eq!(run["max_concurrency"], c);
                assert_eq!(run["request_throughput"], 10.0 * c as f64);
            }
            let summary = read_json(&comb.join("summary.json"));
            assert_eq!(summary.as_array().unwrap().len(), 2);
        }
    }
    let csv = std::fs::read_to_string(exp.join("summary.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    assert!(
        header.starts_with(",date,endpoint_type,backend"),
        "{header}"
    );
    // Parameters already among the result keys keep their place (Python's dict.update).
    assert!(header.ends_with(",max_concurrency,duration,completed,failed,request_throughput,output_throughput,p99_ttft_ms,mean_e2el_ms,p99_e2el_ms,run_number,max_num_seqs"), "{header}");
    assert_eq!(csv.lines().count(), 1 + 8);
    let record = read_json(&exp.join("experiment.json"));
    assert_eq!(record["kind"], "serve");
    assert_eq!(record["num_runs"], 2);
    assert_eq!(
        record["serve_params"],
        serde_json::from_str::<Value>(SERVE_PARAMS).unwrap()
    );
    assert!(record["finished_at"].is_string());
    assert!(exp.join("servers/SERVE--max_num_seqs=8.log").exists());
    // One server per serve item, started with its parameters; three resets after every run.
    let starts = f.event_lines("start");
    assert_eq!(starts.len(), 2, "{starts:?}");
    assert!(
        starts[0].ends_with("--max-num-seqs 8") && starts[1].ends_with("--max-num-seqs 16"),
        "{starts:?}"
    );
    assert_eq!(f.event_lines("reset").len(), 3 * 8);
    assert_eq!(f.event_lines("reset /reset_prefix_cache").len(), 8);
    // The results table names every combination.
    let stdout = stdout(&o);
    assert!(
        stdout.contains("SERVE--max_num_seqs=16-BENCH--max_concurrency=4")
            && stdout.contains("Summary:"),
        "{stdout}"
    );
    f.assert_no_stand_in_left();
}

#[test]
fn dry_run_prints_every_command_and_writes_nothing() {
    let f = Fixture::new();
    let sp = f.write("serve.json", SERVE_PARAMS);
    let o = run(serve(
        &f,
        "",
        "",
        &[
            "--serve-params",
            sp.to_str().unwrap(),
            "--num-runs",
            "2",
            "--warmup-num-prompts",
            "5",
            "--dry-run",
        ],
    ));
    assert!(o.status.success(), "{}", text(&o));
    let out = stdout(&o);
    assert!(out.contains("--max-num-seqs 16"), "{out}");
    assert!(
        out.contains("--percentile-metrics ttft,tpot,itl,e2el --save-result --result-dir"),
        "{out}"
    );
    assert!(
        out.contains("--result-filename run=1.json")
            && out.contains("warm-up")
            && out.contains("--num-prompts 5"),
        "{out}"
    );
    assert!(!f.path("out").exists());
    assert!(!f.events().exists());
}

#[test]
fn an_existing_experiment_needs_resume_and_resume_needs_one() {
    let f = Fixture::new();
    let o = run(serve(&f, "", "", &["--resume"]));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("does not exist"), "{}", text(&o));
    std::fs::create_dir_all(f.exp()).unwrap();
    let o = run(serve(&f, "", "", &[]));
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("already exists") && stderr(&o).contains("--resume"),
        "{}",
        text(&o)
    );
}

#[test]
fn resume_runs_only_what_is_missing() {
    let f = Fixture::new();
    let sp = f.write("serve.json", SERVE_PARAMS);
    let bp = f.write("bench.json", BENCH_PARAMS);
    let switch = f.write("fail-now", "");
    let bench_extra = format!(
        "--fail-if max-concurrency=4 --fail-switch {}",
        switch.display()
    );
    let args = [
        "--serve-params",
        sp.to_str().unwrap(),
        "--bench-params",
        bp.to_str().unwrap(),
        "--num-runs",
        "2",
    ];
    let o = run(serve(&f, "", &bench_extra, &args));
    assert!(!o.status.success(), "{}", text(&o));
    let err = stderr(&o);
    assert!(
        err.contains("simulated failure")
            && err.contains("Resume with")
            && err.contains("--resume"),
        "{err}"
    );
    let first = f
        .exp()
        .join("SERVE--max_num_seqs=8-BENCH--max_concurrency=1");
    assert!(first.join("summary.json").exists());
    let benches_before = f.event_lines("bench").len();
    assert_eq!(
        benches_before, 3,
        "two runs of the first combination, then the failing one"
    );
    // Changed settings are refused.
    let mut other = args.to_vec();
    other[5] = "1";
    let o = run(serve(
        &f,
        "",
        &bench_extra,
        &[&other[..], &["--resume"]].concat(),
    ));
    assert!(
        stderr(&o).contains("num_runs: recorded 2, now 1"),
        "{}",
        text(&o)
    );
    // The same settings continue: 3 combinations × 2 runs are left.
    std::fs::remove_file(&switch).unwrap();
    let o = run(serve(
        &f,
        "",
        &bench_extra,
        &[&args[..], &["--resume"]].concat(),
    ));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(f.event_lines("bench").len() - benches_before, 6);
    let csv = std::fs::read_to_string(f.exp().join("summary.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 8);
    let record = read_json(&f.exp().join("experiment.json"));
    assert_eq!(
        record["invocations"].as_array().unwrap().len(),
        2,
        "the refused resume is not an invocation"
    );
    // A finished experiment resumed again starts no server.
    let starts = f.event_lines("start").len();
    let o = run(serve(
        &f,
        "",
        &bench_extra,
        &[&args[..], &["--resume"]].concat(),
    ));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(f.event_lines("start").len(), starts);
}

#[test]
fn continue_on_error_records_failures_and_goes_on() {
    let f = Fixture::new();
    let bp = f.write("bench.json", BENCH_PARAMS);
    let o = run(serve(
        &f,
        "",
        "--fail-if max-concurrency=4",
        &[
            "--bench-params",
            bp.to_str().unwrap(),
            "--num-runs",
            "2",
            "--continue-on-error",
        ],
    ));
    assert!(o.status.success(), "{}", text(&o));
    let bad = f.exp().join("BENCH--max_concurrency=4");
    let failure = read_json(&bad.join("run=1.failure.json"));
    assert_eq!(failure["run_number"], 1);
    assert_eq!(failure["error_type"], "BenchmarkFailed");
    assert!(
        failure["error"]
            .as_str()
            .unwrap()
            .contains("simulated failure")
    );
    assert_eq!(failure["bench_overrides"]["max_concurrency"], 4);
    assert!(
        !bad.join("summary.json").exists(),
        "no successful run: stays retryable"
    );
    assert!(
        f.exp()
            .join("BENCH--max_concurrency=1/summary.json")
            .exists()
    );
    assert!(stdout(&o).contains("failure"), "{}", text(&o));
    // The table: no successful run means no count of failed requests (not "-0").
    let out = stdout(&o);
    let row = out
        .lines()
        .find(|l| l.contains("BENCH--max_concurrency=4"))
        .expect(&out);
    assert!(
        row.contains("0 ok, 2 failed") && !row.contains("-0"),
        "{out}"
    );
    assert!(
        row.trim_end_matches(['│', ' ']).ends_with('-'),
        "failed req: {row}"
    );
}

#[test]
fn resume_counts_the_failed_runs_of_a_finished_combination() {
    let f = Fixture::new();
    let args = ["--num-runs", "2", "--continue-on-error"];
    let bench = "--fail-if result-filename=run=1.json";
    let o = run(serve(&f, "", bench, &args));
    assert!(o.status.success(), "{}", text(&o));
    assert!(f.exp().join("run=1.failure.json").exists());
    assert!(stdout(&o).contains("1 ok, 1 failed"), "{}", text(&o));
    let o = run(serve(&f, "", bench, &[&args[..], &["--resume"]].concat()));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        f.event_lines("bench").len(),
        2,
        "a finished combination is not rerun"
    );
    assert!(stdout(&o).contains("1 ok, 1 failed"), "{}", text(&o));
}

#[test]
fn a_server_that_never_becomes_ready_is_named_and_stopped() {
    let f = Fixture::new();
    let mut c = serve(&f, "--never-ready", "", &[]);
    c.args(["--server-ready-timeout", "1"]);
    let o = run(c);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains(&format!("http://127.0.0.1:{}/health", f.port))
            && err.contains("--server-ready-timeout 1 s"),
        "{err}"
    );
    assert!(err.contains("answered HTTP 503"), "{err}");
    f.assert_no_stand_in_left();
}

#[test]
fn a_server_that_crashes_before_ready_shows_its_exit_and_log() {
    let f = Fixture::new();
    let o = run(serve(&f, "--exit-before-ready 7", "", &[]));
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("exit code 7") && err.contains("simulated crash before ready"),
        "{err}"
    );
}

#[test]
fn a_server_that_dies_during_the_sweep_is_recorded() {
    let f = Fixture::new();
    let sp = f.write("serve.json", SERVE_PARAMS);
    let o = run(serve(
        &f,
        "--die-after-resets 1",
        "",
        &[
            "--serve-params",
            sp.to_str().unwrap(),
            "--num-runs",
            "2",
            "--continue-on-error",
        ],
    ));
    assert!(o.status.success(), "{}", text(&o));
    for s in [8, 16] {
        let failure = read_json(&f.exp().join(format!("SERVE-max_num_seqs={s}-failure.json")));
        assert_eq!(failure["error_type"], "ServerDied");
        assert!(
            failure["error"].as_str().unwrap().contains("exit code 3"),
            "{failure}"
        );
        assert_eq!(failure["serve_overrides"]["max_num_seqs"], s);
    }
    let o = run(serve(
        &f,
        "--die-after-resets 1",
        "",
        &["--num-runs", "2", "--resume"],
    ));
    assert!(
        !o.status.success(),
        "without --continue-on-error a dead server stops the sweep"
    );
}

#[test]
fn benchmark_failures_are_explained() {
    for (mode, expect) in [
        ("exit1", "failed with exit code 1"),
        ("nojson", "wrote no result file"),
        ("badjson", "is not valid"),
    ] {
        let f = Fixture::new();
        let o = run(serve(
            &f,
            "",
            &format!("--mode {mode}"),
            &["--num-runs", "1"],
        ));
        assert!(!o.status.success(), "{mode}");
        let err = stderr(&o);
        assert!(err.contains(expect), "{mode}: {err}");
        if mode == "exit1" {
            assert!(err.contains("simulated failure"), "{err}");
        }
        if mode == "badjson" {
            assert!(f.exp().join("run=0.invalid.json").exists());
            assert!(!f.exp().join("run=0.json").exists());
        }
    }
}

#[test]
fn bad_input_gets_a_clear_error() {
    let f = Fixture::new();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "--serve-params".into(),
                f.write("a.json", "[{\"a\": 1},\n {\"b\": ]")
                    .display()
                    .to_string(),
            ],
            "line 2",
        ),
        (
            vec![
                "--serve-params".into(),
                f.write("b.json", "42").display().to_string(),
            ],
            "list of objects",
        ),
        (
            vec![
                "--bench-params".into(),
                f.write("c.json", "[{}, 3]").display().to_string(),
            ],
            "item 1",
        ),
        (
            vec![
                "--bench-params".into(),
                f.write(
                    "d.json",
                    r#"[{"_benchmark_name": "x"}, {"_benchmark_name": "x"}]"#,
                )
                .display()
                .to_string(),
            ],
            "duplicate _benchmark_name",
        ),
        (
            vec!["--link-vars".into(), "max_num_seqs".into()],
            "--link-vars",
        ),
        (
            vec!["--num-runs".into(), "0".into()],
            "--num-runs must be at least 1",
        ),
        (
            vec!["--warmup-num-prompts".into(), "-1".into()],
            "--warmup-num-prompts",
        ),
    ];
    for (args, expect) in cases {
        let o = run(serve(
            &f,
            "",
            "",
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        ));
        assert!(!o.status.success(), "{args:?}");
        let err = stderr(&o);
        assert!(err.contains(expect), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let mut c = llmsweep();
    c.args([
        "serve",
        "--serve-cmd",
        "no-such-server-xyz serve",
        "--after-bench-cmd",
        "true",
        "--bench-cmd",
        "true",
        "-o",
    ])
    .arg(f.path("o2"));
    let o = run(c);
    assert!(
        stderr(&o).contains("'no-such-server-xyz' was not found"),
        "{}",
        text(&o)
    );
    // The cause comes first; the resume command stands alone on the last line, to paste.
    let err = stderr(&o);
    let last = err.lines().rfind(|l| !l.trim().is_empty()).unwrap().trim();
    assert!(
        last.contains(" --resume") && !last.contains("not found"),
        "{err}"
    );
    assert!(
        last.starts_with(env!("CARGO_BIN_EXE_llmsweep"))
            && last.contains("--serve-cmd 'no-such-server-xyz serve'"),
        "the last line is a pasteable command: {last}"
    );
    // A missing parameter file: the OS error once.
    let o = run(serve(
        &f,
        "",
        "",
        &["--serve-params", f.path("missing.json").to_str().unwrap()],
    ));
    let err = stderr(&o);
    assert!(err.contains("missing.json"), "{err}");
    assert_eq!(err.matches("os error 2").count(), 1, "{err}");
}

#[test]
fn ctrl_c_stops_children_and_prints_the_resume_command() {
    let f = Fixture::new();
    let o = signal_when(
        serve(&f, "", "--sleep 30", &["--num-runs", "1"]),
        "the benchmark to start",
        || !f.event_lines("bench").is_empty(),
        Signal::SIGINT,
    );
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    let err = stderr(&o);
    assert!(
        err.contains("Resume with") && err.contains("--resume"),
        "{err}"
    );
    assert!(!f.exp().join("run=0.json").exists());
    f.assert_no_stand_in_left();
    let record = read_json(&f.exp().join("experiment.json"));
    assert!(record["finished_at"].is_null());
}

#[test]
fn kill_9_loses_nothing_and_resume_completes() {
    let f = Fixture::new();
    let bp = f.write("bench.json", BENCH_PARAMS);
    let args = ["--bench-params", bp.to_str().unwrap(), "--num-runs", "2"];
    let mut c = serve(&f, "", "--sleep 0.3", &args);
    let mut child = c
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let done = f.exp().join("BENCH--max_concurrency=1/run=0.json");
    wait_for("a run to finish", || done.exists());
    child.kill().unwrap();
    child.wait().unwrap();
    // The server dies with us (its parent-death signal).
    assert_no_process_mentions(&format!("serve m --host 127.0.0.1 --port {}", f.port));
    let kept = read_json(&done);
    let benches = f.event_lines("bench").len();
    let o = run(serve(
        &f,
        "",
        "--sleep 0.3",
        &[&args[..], &["--resume"]].concat(),
    ));
    assert!(o.status.success(), "{}", text(&o));
    // The finished run is kept (annotated now if the kill came before that), not rerun.
    let after = read_json(&done);
    for (k, v) in kept.as_object().unwrap() {
        assert_eq!(&after[k], v, "{k}");
    }
    assert_eq!(after["run_number"], 0);
    assert_eq!(
        f.event_lines("bench").len() - benches,
        3,
        "only the three missing runs ran"
    );
    for c in [1, 4] {
        assert_eq!(
            read_json(
                &f.exp()
                    .join(format!("BENCH--max_concurrency={c}/summary.json"))
            )
            .as_array()
            .unwrap()
            .len(),
            2
        );
    }
}

#[test]
fn a_warm_up_runs_first_and_stays_out_of_the_summaries() {
    let f = Fixture::new();
    let bp = f.write("bench.json", BENCH_PARAMS);
    let o = run(serve(
        &f,
        "",
        "",
        &[
            "--bench-params",
            bp.to_str().unwrap(),
            "--num-runs",
            "2",
            "--warmup-num-prompts",
            "7",
        ],
    ));
    assert!(o.status.success(), "{}", text(&o));
    let comb = f.exp().join("BENCH--max_concurrency=4");
    let warmup = read_json(&comb.join("warmup.json"));
    assert_eq!(warmup["run_number"], -1);
    assert_eq!(warmup["num_prompts"], 7);
    let summary = read_json(&comb.join("summary.json"));
    let runs: Vec<i64> = summary
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_number"].as_i64().unwrap())
        .collect();
    assert_eq!(runs, [0, 1], "the warm-up is not a measured run");
    // One warm-up, then two runs, per combination: the warm-up is the first benchmark.
    let benches = f.event_lines("bench");
    assert_eq!(benches.len(), 2 * 3);
    assert!(
        benches[0].contains("--num-prompts 7") && benches[0].contains("warmup.json"),
        "{benches:?}"
    );
    let csv = std::fs::read_to_string(f.exp().join("summary.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 4, "no warm-up rows: {csv}");
}

#[test]
fn a_run_cut_short_by_a_server_crash_is_redone_on_resume() {
    let f = Fixture::new();
    let switch = f.write("die-switch", "");
    let serve_extra = format!("--die-after 1.5 --die-switch {}", switch.display());
    let o = run(serve(&f, &serve_extra, "--sleep 3", &["--num-runs", "1"]));
    assert!(!o.status.success(), "{}", text(&o));
    assert_eq!(f.event_lines("died").len(), 1, "{}", text(&o));
    let err = stderr(&o);
    assert!(err.contains("died during this run"), "{err}");
    // The run the crash cut short is not kept as one (the benchmark was stopped when the
    // server died; had it written a result, that would be set aside).
    assert!(!f.exp().join("run=0.json").exists());
    assert!(!f.exp().join("summary.json").exists());
    assert!(f.event_lines("bench").len() == 1);
    let failure = read_json(&f.exp().join("run=0.failure.json"));
    assert_eq!(failure["error_type"], "ServerDied");
    assert_eq!(failure["run_number"], 0);
    assert!(
        failure["error"]
            .as_str()
            .unwrap()
            .contains("the server died during this run"),
        "{failure}"
    );
    std::fs::remove_file(&switch).unwrap();
    let o = run(serve(
        &f,
        &serve_extra,
        "--sleep 3",
        &["--num-runs", "1", "--resume"],
    ));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(f.event_lines("bench").len(), 2, "run 0 ran again");
    assert_eq!(read_json(&f.exp().join("run=0.json"))["run_number"], 0);
    assert!(!f.exp().join("run=0.failure.json").exists());
    let summary = read_json(&f.exp().join("summary.json"));
    assert_eq!(summary.as_array().unwrap().len(), 1);
    // The server log keeps the crashed start above the new one.
    let log = std::fs::read_to_string(f.exp().join("servers/default.log")).unwrap();
    let first = log.find("server start #1").expect(&log);
    let second = log.find("server start #2").expect(&log);
    assert!(first < second, "{log}");
    f.assert_no_stand_in_left();
}

#[test]
fn a_wrapper_servers_children_left_by_kill_9_are_stopped_on_resume() {
    let f = Fixture::new();
    // A wrapper that does not exec: the server is its child, and the parent-death signal
    // reaches only the wrapper. Its name ends in "vllm" so caches are reset over HTTP.
    let wrapper = f.write(
        "wrapped-vllm",
        &format!(
            "#!/bin/sh\n{} \"$@\"\necho wrapper done\n",
            common::support("fake-vllm")
        ),
    );
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let serve_cmd = format!(
        "{} serve m --host 127.0.0.1 --port {} --events {}",
        wrapper.display(),
        f.port,
        f.events().display()
    );
    let sweep = || {
        let mut c = llmsweep();
        c.args([
            "serve",
            "--serve-cmd",
            &serve_cmd,
            "--bench-cmd",
            &f.fake_bench_cmd("--sleep 1"),
            "--num-runs",
            "1",
            "--server-ready-timeout",
            "20",
            "-o",
        ])
        .arg(f.path("out"))
        .args(["-e", "e"]);
        c
    };
    let mut child = sweep()
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the benchmark to start", || {
        !f.event_lines("bench").is_empty()
    });
    child.kill().unwrap();
    child.wait().unwrap();
    // The server outlives the killed sweep (and would keep the port)...
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", f.port)).is_ok(),
        "the wrapper's server should have outlived the kill (test premise)"
    );
    // ...until the next invocation on the folder finds it by its mark and stops it.
    let mut c = sweep();
    c.arg("--resume");
    let o = run(c);
    assert!(o.status.success(), "{}", text(&o));
    let err = stderr(&o);
    assert!(
        err.contains("stopped a process left running by an earlier invocation")
            && err.contains("fake-vllm"),
        "{err}"
    );
    assert!(f.event_lines("stop").len() >= 2, "SIGTERM first: {err}");
    assert!(read_json(&f.exp().join("summary.json")).is_array());
    f.assert_no_stand_in_left();
}

#[test]
fn a_closed_output_pipe_stops_the_sweep_cleanly() {
    use std::io::BufRead;
    let f = Fixture::new();
    let mut child = serve(&f, "", "--sleep 30", &["--num-runs", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read until the server is up, then close the pipes, as `2>&1 | head` does.
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("ready at") {
        let mut line = String::new();
        assert!(err.read_line(&mut line).unwrap() > 0, "{seen}");
        seen.push_str(&line);
    }
    drop(err);
    drop(child.stdout.take());
    let status = child.wait().unwrap();
    // An orderly exit (no death by SIGPIPE, no panic), after stopping the server.
    assert_eq!(status.code(), Some(128 + 13), "{status:?}");
    f.assert_no_stand_in_left();
    assert!(!f.exp().join("run=0.json").exists());
    let record = read_json(&f.exp().join("experiment.json"));
    assert!(record["finished_at"].is_null(), "{record:#}");
}

#[test]
fn control_characters_in_names_are_escaped_on_the_console() {
    let f = Fixture::new();
    // Folder names are sanitised; the serve item's name is shown as given, escaped.
    let sp = f.write(
        "serve.json",
        r#"{"evil\u001b[2J\u0007": {"max_num_seqs": 8}}"#,
    );
    let o = run(serve(
        &f,
        "",
        "",
        &["--serve-params", sp.to_str().unwrap(), "--num-runs", "1"],
    ));
    assert!(o.status.success(), "{}", text(&o));
    let all = text(&o);
    assert!(!all.contains('\u{1b}') && !all.contains('\u{7}'), "{all:?}");
    assert!(all.contains("evil\\e[2J\\x07"), "{all}");
}
