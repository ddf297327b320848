//! End-to-end tests of `llmsweep bench startup` against a stand-in server
//! (tests/support/fake-startup-server): cold vs warm, every key, the first token, the log's
//! compilation lines, failures with clear errors, and no server left behind.

mod common;

use std::process::Command;

use nix::sys::signal::Signal;

use common::startup::{metric_keys, numbers, signal_once_started};
use common::{Fixture, read_json, run, stderr, stdout, text};

/// `llmsweep bench startup` with the stand-in, its logs in the fixture's `logs` folder.
fn bench(f: &Fixture, serve_extra: &str, more: &[&str]) -> Command {
    let mut c = bench_with_temp_logs(f, serve_extra, &["--log-dir"]);
    c.arg(f.path("logs")).args(more);
    c
}

/// `llmsweep bench startup` with the stand-in, its logs in a temporary folder.
fn bench_with_temp_logs(f: &Fixture, serve_extra: &str, more: &[&str]) -> Command {
    let serve = f.fake_startup_server_cmd(serve_extra);
    let mut c = f.llmsweep_with_cache(&[
        "bench",
        "startup",
        "--serve-cmd",
        &serve,
        "--ready-timeout",
        "20",
    ]);
    c.args(more);
    c
}

#[test]
fn cold_starts_are_slower_than_warm_ones_and_every_key_is_present() {
    let f = Fixture::new();
    let out = f.path("out/result.json");
    let logs = f.path("logs");
    let cold_cmd = format!("sh -c 'echo cold-cmd >> {}'", f.events().display());
    let o = run(bench(
        &f,
        // The port opens at once, /health waits: cold 0.6 s, warm 0.1 s; the first token
        // comes 0.2 s after the request.
        "--bind-early --cold 0.6 --warm 0.1 --first-token-delay 0.2 --graph-capture 3",
        &[
            "--num-iters-cold",
            "2",
            "--num-iters-warmup",
            "1",
            "--num-iters-warm",
            "2",
            "--cold-cmd",
            &cold_cmd,
            "--output-json",
            out.to_str().unwrap(),
            "--log-dir",
            logs.to_str().unwrap(),
        ],
    ));
    assert!(o.status.success(), "{}", text(&o));
    let doc = read_json(&out);
    let keys: Vec<String> = doc.as_object().unwrap().keys().cloned().collect();
    let mut want = metric_keys();
    want.extend(
        [
            "num_iters_cold",
            "num_iters_warmup",
            "num_iters_warm",
            "serve_cmd",
            "serve_cmd_note",
            "server_url",
            "cold_cmd",
            "fresh_cold_cache",
            "ready_timeout",
            "first_token_measured",
        ]
        .map(String::from),
    );
    assert_eq!(keys, want);
    for k in metric_keys() {
        assert!(!doc[&k].is_null(), "{k} is null: {doc:#}");
    }
    assert!(
        doc["avg_cold_startup_time"].as_f64() > doc["avg_warm_startup_time"].as_f64(),
        "{doc:#}"
    );
    for phase in ["cold", "warm"] {
        let port = numbers(&doc[format!("{phase}_port_open_times")]);
        let ready = numbers(&doc[format!("{phase}_startup_times")]);
        let token = numbers(&doc[format!("{phase}_first_token_times")]);
        assert_eq!(ready.len(), 2);
        for i in 0..2 {
            assert!(port[i] <= ready[i] && ready[i] < token[i], "{doc:#}");
        }
        assert_eq!(
            doc[format!("{phase}_startup_percentiles")]
                .as_object()
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            ["10", "25", "50", "75", "90", "99"]
        );
        assert_eq!(
            numbers(&doc[format!("{phase}_graph_capture_times")]),
            [3.0, 3.0]
        );
    }
    // Cold starts port-open well before ready (0.6 s of simulated loading in between).
    let port = numbers(&doc["cold_port_open_times"]);
    let ready = numbers(&doc["cold_startup_times"]);
    assert!(port[0] < ready[0] && port[1] < ready[1], "{doc:#}");
    // Compilation times are read from the server's log.
    assert_eq!(numbers(&doc["cold_compilation_times"]), [12.34, 12.34]);
    assert_eq!(numbers(&doc["warm_compilation_times"]), [1.5, 1.5]);
    assert_eq!(doc["avg_warm_compilation_time"], 1.5);
    assert_eq!(doc["num_iters_warmup"], 1);
    assert_eq!(doc["fresh_cold_cache"], true);
    assert_eq!(
        doc["server_url"].as_str().unwrap(),
        format!("http://127.0.0.1:{}", f.port)
    );

    // --cold-cmd ran before each cold start, which saw a fresh, empty cache root; the
    // warm-up filled the user's cache, and the warm starts found it.
    let cache = f.cache().display().to_string();
    let lines: Vec<String> = std::fs::read_to_string(f.events())
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("start") || l.starts_with("cold-cmd"))
        .map(str::to_string)
        .collect();
    assert_eq!(lines.len(), 7, "{lines:#?}");
    for (i, l) in lines.iter().enumerate() {
        match i {
            0 | 2 => assert_eq!(l, "cold-cmd"),
            1 | 3 => assert!(
                l.contains("cold=1") && l.contains("cache_root=/") && !l.contains(&cache),
                "{l}"
            ),
            4 => assert!(
                l.contains("cold=1") && l.ends_with(&format!("cache_root={cache}")),
                "{l}"
            ),
            _ => assert!(
                l.contains("cold=0") && l.ends_with(&format!("cache_root={cache}")),
                "{l}"
            ),
        }
    }
    for l in [&lines[1], &lines[3]] {
        let root = l.split("cache_root=").nth(1).unwrap();
        assert!(
            !std::path::Path::new(root).exists(),
            "cold cache {root} left behind"
        );
    }
    // One short streamed request per start; every server got SIGTERM.
    let completions = f.event_lines("completion");
    assert_eq!(completions.len(), 5);
    assert!(completions[0].starts_with("completion model=m max_tokens=1 stream=True"));
    assert_eq!(f.event_lines("stop").len(), 5);
    // Every start's log is kept.
    for name in ["cold-1", "cold-2", "warmup-1", "warm-1", "warm-2"] {
        assert!(logs.join(format!("{name}.log")).exists(), "{name}.log");
    }
    let log = std::fs::read_to_string(logs.join("cold-1.log")).unwrap();
    assert!(
        log.contains("torch.compile takes 12.34 s in total"),
        "{log}"
    );
    let stdout = stdout(&o);
    assert!(
        stdout.contains("STARTUP TIME BENCHMARK RESULTS")
            && stdout.contains("COLD STARTUP:")
            && stdout.contains("Avg compilation time: 12.34 seconds"),
        "{stdout}"
    );
    f.assert_no_stand_in_left();
}

#[test]
fn warm_only_without_first_token_and_without_compile_lines() {
    let f = Fixture::new();
    let out = f.path("r.json");
    let o = run(bench(
        &f,
        "--cold 0.3 --warm 0.1 --no-compile-log",
        &[
            "--num-iters-cold",
            "1",
            "--no-fresh-cache",
            "--num-iters-warmup",
            "0",
            "--num-iters-warm",
            "1",
            "--skip-first-token",
            "--output-json",
            out.to_str().unwrap(),
        ],
    ));
    assert!(o.status.success(), "{}", text(&o));
    let doc = read_json(&out);
    for k in [
        "avg_cold_first_token_time",
        "warm_first_token_times",
        "cold_compilation_times",
        "avg_warm_compilation_time",
        "warm_graph_capture_percentiles",
    ] {
        assert!(doc[k].is_null(), "{k}: {doc:#}");
    }
    assert_eq!(numbers(&doc["cold_startup_times"]).len(), 1);
    assert_eq!(doc["first_token_measured"], false);
    assert!(f.event_lines("completion").is_empty());
    // --no-fresh-cache: the cold start used (and filled) the user's cache.
    let cache = f.cache().display().to_string();
    let starts = f.event_lines("start");
    assert!(
        starts[0].contains("cold=1") && starts[0].ends_with(&cache),
        "{starts:?}"
    );
    assert!(
        starts[1].contains("cold=0") && starts[1].ends_with(&cache),
        "{starts:?}"
    );
}

#[test]
fn a_server_that_never_becomes_ready_is_named_stopped_and_leaves_no_orphan() {
    let f = Fixture::new();
    let o = run(bench_with_temp_logs(
        &f,
        "--bind-early --never-ready",
        &["--num-iters-cold", "1", "--ready-timeout", "1"],
    ));
    assert!(!o.status.success());
    let err = stderr(&o);
    for part in [
        "cold 1/1 start-up failed",
        "not ready within --ready-timeout 1 s",
        &format!(
            "GET http://127.0.0.1:{}/health last answered HTTP 503",
            f.port
        ),
        "server command: ",
        "fake-startup-server m --host 127.0.0.1",
        "loading weights of m",
        "server logs kept in",
    ] {
        assert!(err.contains(part), "missing {part:?} in:\n{err}");
    }
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(f.event_lines("stop").len(), 1, "stopped with SIGTERM");
    f.assert_no_stand_in_left();
    // The kept logs are where the error says.
    let kept = err
        .split("server logs kept in ")
        .nth(1)
        .and_then(|s| s.split(':').next())
        .unwrap()
        .trim()
        .to_string();
    assert!(
        std::path::Path::new(&kept).join("cold-1.log").exists(),
        "{kept}"
    );
    let _ = std::fs::remove_dir_all(kept);
}

#[test]
fn a_server_that_exits_before_ready_shows_its_exit_and_log() {
    let f = Fixture::new();
    let o = run(bench(
        &f,
        "--exit-before-ready 3",
        &["--num-iters-cold", "1"],
    ));
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("exited with exit code 3") && err.contains("simulated crash before ready"),
        "{err}"
    );
    assert!(!err.contains("server logs kept in"), "{err}");
}

#[test]
fn a_busy_port_is_refused_before_anything_starts() {
    let f = Fixture::new();
    let _busy = std::net::TcpListener::bind(("127.0.0.1", f.port)).unwrap();
    let o = run(bench(&f, "", &["--num-iters-cold", "1"]));
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains(&format!("already listening on http://127.0.0.1:{}", f.port)),
        "{err}"
    );
    assert!(f.event_lines("start").is_empty());
    assert!(!err.contains("server logs kept in"), "{err}");
}

#[test]
fn bad_input_gets_a_clear_error() {
    let f = Fixture::new();
    for (args, expect) in [
        (
            vec!["--num-iters-cold", "0", "--num-iters-warm", "0"],
            "nothing to measure",
        ),
        (vec!["--ready-timeout", "0"], "--ready-timeout"),
        (vec!["--cold-cmd", "sh -c 'unclosed"], "--cold-cmd"),
        (vec!["--server-url", "localhost:1"], "--server-url"),
    ] {
        let o = run(bench(&f, "", &args));
        assert!(!o.status.success(), "{args:?}");
        let err = stderr(&o);
        assert!(err.contains(expect), "{args:?}: {err}");
    }
    assert!(f.event_lines("start").is_empty());
    let logs = f.path("logs");
    let o = run(f.llmsweep_with_cache(&[
        "bench",
        "startup",
        "--serve-cmd",
        "no-such-server-xyz --port 1",
        "--log-dir",
        logs.to_str().unwrap(),
    ]));
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("no-such-server-xyz") && err.contains("not found"),
        "{err}"
    );
    assert!(!err.contains("server logs kept in"), "{err}");
}

#[test]
fn sigterm_stops_the_server_it_is_timing() {
    let f = Fixture::new();
    let out = signal_once_started(
        &f,
        bench(&f, "--cold 30", &["--num-iters-cold", "1"]),
        Signal::SIGTERM,
    );
    assert_eq!(out.status.code(), Some(128 + 15), "{out:?}");
    assert_eq!(f.event_lines("stop").len(), 1, "the server got SIGTERM");
    f.assert_no_stand_in_left();
    // The signal ended llmsweep before it could remove the cold start's cache folder; the
    // next run removes it.
    let start = f.event_lines("start").remove(0);
    let cold_cache = start.split("cache_root=").nth(1).unwrap().to_string();
    let o = run(bench(
        &f,
        "",
        &[
            "--num-iters-cold",
            "0",
            "--num-iters-warmup",
            "0",
            "--num-iters-warm",
            "1",
        ],
    ));
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        !std::path::Path::new(&cold_cache).exists(),
        "{cold_cache} left behind"
    );
}
