//! End-to-end tests of the sweeps with llmsweep's own defaults — the simulator (`llmsweep
//! sim`) as the server and the native client (`llmsweep bench serve`) as the benchmark —
//! on 127.0.0.1 with free ports: what a user gets with no --serve-cmd and no --bench-cmd.

mod common;

use std::process::Stdio;

use common::{
    assert_no_process_mentions, free_port, llmsweep, read_json, run, stdout, text, write,
};

#[test]
fn the_default_sweep_runs_the_simulator_and_the_native_client() {
    let dir = tempfile::tempdir().unwrap();
    let serve = write(
        dir.path(),
        "serve.json",
        r#"[{"max_num_seqs": 4}, {"max_num_seqs": 32}]"#,
    );
    let bench = write(
        dir.path(),
        "bench.json",
        r#"[{"max_concurrency": 1, "num_prompts": 4, "random_input_len": 64, "random_output_len": 16},
            {"max_concurrency": 16, "num_prompts": 32, "random_input_len": 64, "random_output_len": 16}]"#,
    );
    let mut c = llmsweep();
    c.args(["serve", "--serve-params"])
        .arg(&serve)
        .arg("--bench-params")
        .arg(&bench)
        .args(["--num-runs", "1", "-e", "e", "-o"])
        .arg(dir.path().join("out"));
    let o = run(c);
    assert!(o.status.success(), "{}", text(&o));
    let exp = dir.path().join("out/e");
    for seqs in [4, 32] {
        for conc in [1, 16] {
            let comb = exp.join(format!("SERVE--max_num_seqs={seqs}-BENCH--max_concurrency={conc}-num_prompts={}-random_input_len=64-random_output_len=16", if conc == 1 { 4 } else { 32 }));
            let r = read_json(&comb.join("run=0.json"));
            // vLLM's keys from the native client, then the sweep's annotations.
            for key in [
                "date",
                "backend",
                "model_id",
                "completed",
                "request_throughput",
                "mean_ttft_ms",
                "p99_tpot_ms",
                "p99_itl_ms",
                "mean_e2el_ms",
                "p99_e2el_ms",
            ] {
                assert!(r.get(key).is_some(), "{key} missing in {}", comb.display());
            }
            assert_eq!(r["failed"], 0);
            assert_eq!(r["model_id"], "meta-llama/Llama-3.1-8B-Instruct");
            assert_eq!(r["max_num_seqs"], seqs);
            assert_eq!(r["run_number"], 0);
        }
    }
    // max_num_seqs caps the batch: at 16 streams, 4 sequences queue and TTFT grows.
    let ttft = |seqs: u32| {
        read_json(&exp.join(format!("SERVE--max_num_seqs={seqs}-BENCH--max_concurrency=16-num_prompts=32-random_input_len=64-random_output_len=16/run=0.json")))["p99_ttft_ms"]
            .as_f64()
            .unwrap()
    };
    assert!(
        ttft(4) > 2.0 * ttft(32),
        "p99 TTFT {} (4 seqs) vs {} (32 seqs)",
        ttft(4),
        ttft(32)
    );
    let log = std::fs::read_to_string(exp.join("servers/SERVE--max_num_seqs=4.log")).unwrap();
    assert!(
        log.contains(" sim ") && log.contains("--max-num-seqs 4"),
        "{log}"
    );
    for f in [
        "summary.csv",
        "report.html",
        "experiment.json",
        "pareto/PARETO.png",
        "plots/p99_e2el_ms-vs-request_throughput.png",
    ] {
        assert!(exp.join(f).exists(), "{f}");
    }
    let out = stdout(&o);
    assert!(out.contains("Report: ") && out.contains("Charts:"), "{out}");
}

#[test]
fn dry_run_shows_the_default_commands_in_full() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = llmsweep();
    c.args(["serve", "--dry-run", "--num-runs", "1", "-o"])
        .arg(dir.path());
    let o = run(c);
    assert!(o.status.success(), "{}", text(&o));
    let out = stdout(&o);
    let exe = env!("CARGO_BIN_EXE_llmsweep");
    assert!(
        out.contains(&format!("$ {exe} sim --host 127.0.0.1 --port ")),
        "{out}"
    );
    assert!(
        out.contains(&format!("$ {exe} bench serve --host 127.0.0.1 --port ")),
        "{out}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "a dry run writes nothing"
    );
}

#[test]
fn sla_answer_passes_and_the_next_value_fails_when_measured_again() {
    let dir = tempfile::tempdir().unwrap();
    let exe = env!("CARGO_BIN_EXE_llmsweep");
    let port = free_port();
    // With max_num_seqs 2 the tiny profile serves 64-token answers in waves of two: p99
    // E2E latency climbs in steps of about 220 ms every two more streams (≈ 450 ms at 3–4,
    // ≈ 660 ms at 5–6). The target sits mid-step, so load on the machine cannot move the
    // answer.
    let serve_cmd = format!(
        "{exe} sim --profile tiny --max-num-seqs 2 --host 127.0.0.1 --port {port} --startup-seconds 0"
    );
    let sla = write(dir.path(), "sla.json", r#"[{"p99_e2el_ms": "<=555"}]"#);
    let bench = write(
        dir.path(),
        "bench.json",
        r#"[{"num_prompts": 16, "random_input_len": 128, "random_output_len": 64}]"#,
    );
    let mut c = llmsweep();
    c.args(["serve-sla", "--serve-cmd", &serve_cmd, "--sla-params"])
        .arg(&sla)
        .arg("--bench-params")
        .arg(&bench)
        .args([
            "--sla-variable",
            "max_concurrency",
            "--num-runs",
            "1",
            "-e",
            "e",
            "-o",
        ])
        .arg(dir.path().join("out"));
    let o = run(c);
    assert!(o.status.success(), "{}", text(&o));
    let r = &read_json(&dir.path().join("out/e/sla_results.json"))[0];
    let v = r["value"]
        .as_u64()
        .unwrap_or_else(|| panic!("a value passes: {r}"));
    assert_eq!(r["verdict"], "pass", "{r}");
    assert!(
        r["reached_max"] == false && v >= 1,
        "the SLA must bind inside the range: {r}"
    );
    // Measure v and v + 1 again, from scratch, with the native client against a new server.
    let measure = |conc: u64| -> f64 {
        let mut server = llmsweep();
        server
            .args([
                "sim",
                "--profile",
                "tiny",
                "--max-num-seqs",
                "2",
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--startup-seconds",
                "0",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut server = server.spawn().unwrap();
        let result = dir.path().join(format!("again-{conc}.json"));
        let mut b = llmsweep();
        b.args([
            "bench",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--num-prompts",
            "16",
            "--random-input-len",
            "128",
            "--random-output-len",
            "64",
        ])
        .args([
            "--max-concurrency",
            &conc.to_string(),
            "--ready-check-timeout-sec",
            "10",
            "--percentile-metrics",
            "ttft,tpot,itl,e2el",
            "--save-result",
            "--disable-tqdm",
            "--result-filename",
        ])
        .arg(&result);
        let o = run(b);
        let _ = server.kill();
        let _ = server.wait();
        assert!(o.status.success(), "{}", text(&o));
        read_json(&result)["p99_e2el_ms"].as_f64().unwrap()
    };
    let at_v = measure(v);
    let above = measure(v + 1);
    assert!(at_v <= 555.0, "the answer {v} passes: p99 E2EL {at_v} ms");
    assert!(
        above > 555.0,
        "the next value {} fails: p99 E2EL {above} ms",
        v + 1
    );
}

#[test]
fn startup_of_the_simulator_cold_is_slower_than_warm() {
    let dir = tempfile::tempdir().unwrap();
    let exe = env!("CARGO_BIN_EXE_llmsweep");
    let cache = dir.path().join("cache");
    let out = dir.path().join("startup.json");
    let mut c = llmsweep();
    c.env("VLLM_CACHE_ROOT", &cache)
        .args([
            "bench",
            "startup",
            "--serve-cmd",
            &format!("{exe} sim --startup-scale 0.01"),
            "--num-iters-cold",
            "1",
            "--num-iters-warmup",
            "1",
            "--num-iters-warm",
            "1",
            "--output-json",
        ])
        .arg(&out);
    let o = run(c);
    assert!(o.status.success(), "{}", text(&o));
    let r = read_json(&out);
    let cold = r["avg_cold_startup_time"].as_f64().unwrap();
    let warm = r["avg_warm_startup_time"].as_f64().unwrap();
    assert!(cold > warm, "cold {cold} s vs warm {warm} s");
    for key in [
        "cold_startup_times",
        "warm_startup_percentiles",
        "avg_cold_compilation_time",
        "avg_warm_first_token_time",
    ] {
        assert!(r.get(key).is_some(), "{key} in {r}");
    }
    assert!(
        r["avg_cold_compilation_time"].as_f64().unwrap()
            > r["avg_warm_compilation_time"].as_f64().unwrap(),
        "{r}"
    );
}

#[test]
fn startup_sweep_of_the_simulator_resumes_and_refuses_unknown_keys() {
    let dir = tempfile::tempdir().unwrap();
    let exe = env!("CARGO_BIN_EXE_llmsweep");
    let startup_cmd = format!(
        "{exe} bench startup --serve-cmd '{exe} sim --startup-scale 0.005' --num-iters-cold 1 --num-iters-warmup 1 --num-iters-warm 1"
    );
    let serve = write(
        dir.path(),
        "serve.json",
        r#"[{"max_num_seqs": 8}, {"enforce_eager": true}]"#,
    );
    let sweep = |more: &[&str]| {
        let mut c = llmsweep();
        c.env("VLLM_CACHE_ROOT", dir.path().join("cache"))
            .args(["startup", "--startup-cmd", &startup_cmd, "--serve-params"])
            .arg(&serve)
            .args(["-e", "e", "-o"])
            .arg(dir.path().join("out"))
            .args(more);
        run(c)
    };
    let o = sweep(&[]);
    assert!(o.status.success(), "{}", text(&o));
    let exp = dir.path().join("out/e");
    for comb in ["SERVE--max_num_seqs=8", "SERVE--enforce_eager=True"] {
        let r = read_json(&exp.join(comb).join("run=0.json"));
        for key in [
            "avg_cold_startup_time",
            "cold_startup_times",
            "cold_startup_percentiles",
            "avg_warm_startup_time",
            "warm_startup_times",
            "warm_startup_percentiles",
            "run_number",
        ] {
            assert!(r.get(key).is_some(), "{key} in {comb}: {r}");
        }
        assert!(
            r["avg_cold_startup_time"].as_f64() > r["avg_warm_startup_time"].as_f64(),
            "{comb}: {r}"
        );
    }
    // The eager server skips compilation and graph capture: it starts faster, cold.
    let cold = |c: &str| {
        read_json(&exp.join(c).join("run=0.json"))["avg_cold_startup_time"]
            .as_f64()
            .unwrap()
    };
    assert!(cold("SERVE--enforce_eager=True") < cold("SERVE--max_num_seqs=8"));
    // Finished: a resume runs nothing again.
    let kept = std::fs::read_to_string(exp.join("SERVE--max_num_seqs=8/run=0.json")).unwrap();
    let o = sweep(&["--resume"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(exp.join("SERVE--max_num_seqs=8/run=0.json")).unwrap(),
        kept
    );
    // A startup parameter llmsweep bench startup does not take: an error with --strict-params.
    let startup = write(
        dir.path(),
        "startup.json",
        r#"[{"num_iters_warm": 1, "no_such_key": 3}]"#,
    );
    let o = sweep(&[
        "--startup-params",
        startup.to_str().unwrap(),
        "--strict-params",
        "-e",
        "strict",
    ]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no_such_key"),
        "{}",
        text(&o)
    );
    assert!(!dir.path().join("out/strict").exists());
}

#[test]
fn a_simulator_that_never_becomes_ready_is_a_clear_error_and_no_orphan() {
    let dir = tempfile::tempdir().unwrap();
    let exe = env!("CARGO_BIN_EXE_llmsweep");
    let marker = format!("--served-model-name never-ready-{}", std::process::id());
    let mut c = llmsweep();
    c.env("VLLM_CACHE_ROOT", dir.path().join("cache"))
        .args([
            "bench",
            "startup",
            "--serve-cmd",
            &format!("{exe} sim --startup-seconds 60 {marker}"),
        ])
        .args([
            "--num-iters-cold",
            "1",
            "--num-iters-warmup",
            "0",
            "--num-iters-warm",
            "0",
            "--ready-timeout",
            "1",
        ]);
    let o = run(c);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("/health") && err.contains("1 s"),
        "{}",
        text(&o)
    );
    assert_no_process_mentions(&marker);
}
