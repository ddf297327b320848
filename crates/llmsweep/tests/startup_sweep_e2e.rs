//! End-to-end tests of `llmsweep startup` running the real `llmsweep bench startup` against
//! a stand-in server (tests/support/fake-startup-server), and a stand-in for vLLM's own
//! `vllm bench startup` (tests/support/fake-vllm-bench-startup): vLLM's layout, serve items
//! inside --serve-cmd, the supported-keys rule and --strict-params, --resume, --dry-run,
//! failures and Ctrl-C with no server left behind.

mod common;

use std::process::Command;

use nix::sys::signal::Signal;

use common::startup::{metric_keys, numbers, signal_once_started};
use common::{Fixture, assert_no_process_mentions, read_json, run, stderr, stdout, support, text};

const SERVE_PARAMS: &str = r#"[{"max_num_seqs": 8}, {"max_num_seqs": 16}]"#;
/// One named startup item: a supported override and a key bench startup does not take.
const STARTUP_PARAMS: &str =
    r#"{"quick": {"num_iters_cold": 1, "num_iters_warm": 1, "bogus_key": 1}}"#;

/// `llmsweep startup` over `llmsweep bench startup` and the stand-in server; output in
/// <tmp>/out, experiment "e".
fn sweep(f: &Fixture, serve_extra: &str, more: &[&str]) -> Command {
    let startup_cmd = format!(
        "{} bench startup --serve-cmd '{}' --num-iters-cold 3 --num-iters-warmup 0 --num-iters-warm 3 --ready-timeout 20",
        env!("CARGO_BIN_EXE_llmsweep"),
        f.fake_startup_server_cmd(&format!("--cold 0.3 --warm 0.1 {serve_extra}"))
    );
    let out = f.path("out");
    let mut c = f.llmsweep_with_cache(&[
        "startup",
        "--startup-cmd",
        &startup_cmd,
        "-o",
        out.to_str().unwrap(),
        "-e",
        "e",
    ]);
    c.args(more);
    c
}

#[test]
fn a_sweep_writes_vllms_layout_with_serve_items_inside_the_server_command() {
    let f = Fixture::new();
    let sp = f.write("serve.json", SERVE_PARAMS);
    let tp = f.write("startup.json", STARTUP_PARAMS);
    let o = run(sweep(
        &f,
        "",
        &[
            "--serve-params",
            sp.to_str().unwrap(),
            "--startup-params",
            tp.to_str().unwrap(),
        ],
    ));
    assert!(o.status.success(), "{}", text(&o));
    let exp = f.exp();
    let mut csv_rows = 0;
    for s in [8, 16] {
        let comb = exp.join(format!("SERVE--max_num_seqs={s}-STARTUP--quick"));
        let run0 = read_json(&comb.join("run=0.json"));
        let keys: Vec<String> = run0.as_object().unwrap().keys().cloned().collect();
        // The bench JSON's keys first, then run_number and the items' parameters that are
        // not among them (Python's dict.update keeps a known key in its place).
        assert_eq!(keys[..metric_keys().len()], metric_keys()[..]);
        assert_eq!(
            keys[keys.len() - 3..],
            ["run_number", "max_num_seqs", "_benchmark_name"]
        );
        assert_eq!(run0["num_iters_cold"], 1);
        assert_eq!(run0["run_number"], 0);
        assert_eq!(run0["max_num_seqs"], s);
        assert_eq!(run0["_benchmark_name"], "quick");
        assert!(
            run0.get("bogus_key").is_none(),
            "dropped keys are not recorded"
        );
        // The startup item's overrides reached bench startup (3 → 1 iterations).
        assert_eq!(numbers(&run0["cold_startup_times"]).len(), 1);
        assert_eq!(numbers(&run0["warm_startup_times"]).len(), 1);
        // The serve item rewrote the server command inside --serve-cmd.
        assert!(
            run0["serve_cmd"]
                .as_str()
                .unwrap()
                .ends_with(&format!("--max-num-seqs {s}")),
            "{run0:#}"
        );
        let summary = read_json(&comb.join("summary.json"));
        assert_eq!(summary.as_array().unwrap().len(), 1);
        assert_eq!(summary[0], run0);
        assert!(comb.join("run=0.log").exists());
        assert!(comb.join("run=0.logs/cold-1.log").exists());
        assert!(comb.join("run=0.logs/warm-1.log").exists());
        csv_rows += 1;
    }
    let starts = f.event_lines("start");
    assert_eq!(starts.len(), 4, "{starts:#?}");
    assert!(starts[0].contains("--max-num-seqs 8") && starts[3].contains("--max-num-seqs 16"));
    let csv = std::fs::read_to_string(exp.join("summary.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + csv_rows);
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .starts_with(",avg_cold_startup_time,cold_startup_times,cold_startup_percentiles,avg_cold_compilation_time"),
        "{csv}"
    );
    let record = read_json(&exp.join("experiment.json"));
    assert_eq!(record["kind"], "startup");
    assert_eq!(record["num_runs"], 1);
    assert_eq!(record["strict_params"], false);
    assert!(record["finished_at"].is_string());
    // One warning for the item that sets a key bench startup does not take.
    let err = stderr(&o);
    assert_eq!(err.matches("bogus_key").count(), 1, "{err}");
    assert!(err.contains("warning: ignoring startup params"), "{err}");
    let stdout = stdout(&o);
    assert!(
        stdout.contains("SERVE--max_num_seqs=16-STARTUP--quick") && stdout.contains("cold ready s"),
        "{stdout}"
    );
    f.assert_no_stand_in_left();
}

#[test]
fn resume_runs_only_the_missing_runs() {
    let f = Fixture::new();
    let tp = f.write(
        "startup.json",
        r#"[{"num_iters_cold": 1, "num_iters_warm": 0}]"#,
    );
    let args = ["--startup-params", tp.to_str().unwrap(), "--num-runs", "2"];
    let o = run(sweep(&f, "", &args));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(f.event_lines("start").len(), 2);
    let comb = f.exp().join("STARTUP--num_iters_cold=1-num_iters_warm=0");
    let run0 = std::fs::read_to_string(comb.join("run=0.json")).unwrap();
    // Lose run 1 and the summaries, as an interrupted sweep would.
    for name in ["run=1.json", "summary.json"] {
        std::fs::remove_file(comb.join(name)).unwrap();
    }
    std::fs::remove_file(f.exp().join("summary.csv")).unwrap();
    let o = run(sweep(&f, "", &[&args[..], &["--resume"]].concat()));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(f.event_lines("start").len(), 3, "only run 1 ran again");
    assert_eq!(
        std::fs::read_to_string(comb.join("run=0.json")).unwrap(),
        run0
    );
    assert_eq!(read_json(&comb.join("run=1.json"))["run_number"], 1);
    assert_eq!(
        read_json(&comb.join("summary.json"))
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert!(f.exp().join("summary.csv").exists());
    // Everything is done: nothing runs.
    let o = run(sweep(&f, "", &[&args[..], &["--resume"]].concat()));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(f.event_lines("start").len(), 3);
    // Without --resume the folder is never overwritten; with other settings it is refused.
    let o = run(sweep(&f, "", &args));
    assert!(
        !o.status.success() && stderr(&o).contains("--resume"),
        "{}",
        text(&o)
    );
    let o = run(sweep(
        &f,
        "",
        &[
            "--startup-params",
            tp.to_str().unwrap(),
            "--num-runs",
            "3",
            "--resume",
        ],
    ));
    assert!(
        !o.status.success() && stderr(&o).contains("num_runs: recorded 2, now 3"),
        "{}",
        text(&o)
    );
    assert_eq!(
        read_json(&f.exp().join("experiment.json"))["invocations"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn strict_params_refuses_keys_bench_startup_does_not_take() {
    let f = Fixture::new();
    let tp = f.write("startup.json", STARTUP_PARAMS);
    let o = run(sweep(
        &f,
        "",
        &["--startup-params", tp.to_str().unwrap(), "--strict-params"],
    ));
    assert!(!o.status.success());
    let err = stderr(&o);
    for part in [
        "--strict-params",
        "startup item 0 (quick)",
        "startup.json",
        "does not accept: bogus_key",
        "num_iters_cold",
    ] {
        assert!(err.contains(part), "missing {part:?}: {err}");
    }
    assert!(!f.exp().exists(), "nothing is created");
    assert!(f.event_lines("start").is_empty());
    // A key the sweep sets itself is always refused.
    let tp = f.write("out.json", r#"[{"output_json": "x.json"}]"#);
    let o = run(sweep(&f, "", &["--startup-params", tp.to_str().unwrap()]));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("sets output_json"), "{}", text(&o));
}

#[test]
fn dry_run_prints_every_command_and_writes_nothing() {
    let f = Fixture::new();
    let sp = f.write("serve.json", SERVE_PARAMS);
    let tp = f.write("startup.json", STARTUP_PARAMS);
    let o = run(sweep(
        &f,
        "",
        &[
            "--serve-params",
            sp.to_str().unwrap(),
            "--startup-params",
            tp.to_str().unwrap(),
            "--num-runs",
            "2",
            "--dry-run",
        ],
    ));
    assert!(o.status.success(), "{}", text(&o));
    let stdout = stdout(&o);
    let exp = f.exp();
    let comb = exp.join("SERVE--max_num_seqs=16-STARTUP--quick");
    for part in [
        "Dry run: nothing is started or written.".to_string(),
        format!("--output-json {}", comb.join("run=1.json").display()),
        format!("--log-dir {}", comb.join("run=1.logs").display()),
        "--cold 0.3 --warm 0.1 --max-num-seqs 16'".to_string(),
        "--num-iters-cold 1".to_string(),
    ] {
        assert!(stdout.contains(&part), "missing {part:?}:\n{stdout}");
    }
    assert_eq!(stdout.matches(" $ ").count(), 4, "{stdout}");
    // Each printed command is ready to paste into a shell.
    let line = stdout.lines().find(|l| l.contains("run 0 $ ")).unwrap();
    let words = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "for a in {}; do echo \"$a\"; done",
            line.split(" $ ").nth(1).unwrap()
        ))
        .output()
        .unwrap();
    let argv: Vec<String> = String::from_utf8_lossy(&words.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(argv[1..4], ["bench", "startup", "--serve-cmd"]);
    assert!(argv[4].ends_with("--max-num-seqs 8"), "{argv:?}");
    assert!(!f.path("out").exists(), "nothing is written");
    assert!(f.event_lines("start").is_empty(), "nothing is started");
}

#[test]
fn a_failed_run_stops_the_sweep_with_a_resume_hint_and_no_orphan() {
    let f = Fixture::new();
    let tp = f.write(
        "startup.json",
        r#"[{"ready_timeout": 1, "num_iters_warm": 0}]"#,
    );
    let o = run(sweep(
        &f,
        "--bind-early --never-ready",
        &["--startup-params", tp.to_str().unwrap()],
    ));
    assert!(!o.status.success());
    let err = stderr(&o);
    for part in [
        "the startup command failed with exit code 1",
        "not ready within --ready-timeout 1 s",
        &format!("http://127.0.0.1:{}/health", f.port),
        "Resume with:",
        "--resume",
    ] {
        assert!(err.contains(part), "missing {part:?}: {err}");
    }
    f.assert_no_stand_in_left();
    let record = read_json(&f.exp().join("experiment.json"));
    assert!(
        record["invocations"][0]["outcome"]
            .as_str()
            .unwrap()
            .starts_with("stopped"),
        "{record:#}"
    );
}

#[test]
fn ctrl_c_stops_bench_startup_and_its_server() {
    let f = Fixture::new();
    let out = signal_once_started(&f, sweep(&f, "--cold 30", &[]), Signal::SIGINT);
    assert_eq!(out.status.code(), Some(128 + 2), "{out:?}");
    let err = stderr(&out);
    assert!(err.contains("Resume with:"), "{err}");
    assert_eq!(f.event_lines("stop").len(), 1, "the server got SIGTERM");
    f.assert_no_stand_in_left();
    assert_no_process_mentions(&f.exp().to_string_lossy());
}

#[test]
fn another_startup_command_takes_every_item_it_accepts_itself() {
    let f = Fixture::new();
    let sp = f.write(
        "serve.json",
        r#"[{"max_num_seqs": 8, "port": 9000, "enforce_eager": true}]"#,
    );
    let tp = f.write("startup.json", r#"[{"num_iters_cold": 2}]"#);
    let startup_cmd = format!(
        "{} --model m --events {}",
        support("fake-vllm-bench-startup"),
        f.events().display()
    );
    let out = f.path("out");
    let o = run(f.llmsweep_with_cache(&[
        "startup",
        "--startup-cmd",
        &startup_cmd,
        "--serve-params",
        sp.to_str().unwrap(),
        "--startup-params",
        tp.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "-e",
        "e",
    ]));
    assert!(o.status.success(), "{}", text(&o));
    let err = stderr(&o);
    assert!(
        err.contains("ignoring serve params") && err.contains(": port"),
        "{err}"
    );
    let comb = f
        .exp()
        .join("SERVE--max_num_seqs=8-enforce_eager=True-STARTUP--num_iters_cold=2");
    let run_file = comb.join("run=0.json");
    let calls = f.event_lines("startup-cmd");
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0],
        format!(
            "startup-cmd --model m --events {} --max-num-seqs 8 --enforce-eager --num-iters-cold 2 --output-json {}",
            f.events().display(),
            run_file.display()
        )
    );
    let run0 = read_json(&run_file);
    assert_eq!(run0["cold_startup_times"], serde_json::json!([40.0, 40.0]));
    assert_eq!(run0["max_num_seqs"], 8);
    assert!(run0.get("port").is_none());
}
