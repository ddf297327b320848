//! End-to-end tests of `llmsweep serve-sla` and `llmsweep serve-workload` with the
//! stand-in server and benchmark of tests/support (fake-bench's p99 E2E latency is
//! 50 ms × max_concurrency, or 10 ms × request_rate when a rate is set).

mod common;

use std::process::Command;

use serde_json::Value;

use common::{Fixture, read_json, run, stderr, stdout, text};

/// `llmsweep <sub>` over fake-vllm and fake-bench (with `bench_extra`), one run a value,
/// then `args`.
fn sweep(f: &Fixture, sub: &str, bench_extra: &str, args: &[&str]) -> Command {
    let mut c = f.stand_in_sweep(sub, "", bench_extra);
    c.args(["--num-runs", "1"]).args(args);
    c
}

#[test]
fn max_concurrency_search_finds_each_boundary_and_shares_runs() {
    let f = Fixture::new();
    let sla = f.write(
        "sla.json",
        r#"[{"p99_e2el_ms": "<=500"}, {"p99_e2el_ms": "<=230"}]"#,
    );
    let bench = f.write("bench.json", r#"[{"num_prompts": 100}]"#);
    let args = [
        "--sla-params",
        sla.to_str().unwrap(),
        "--bench-params",
        bench.to_str().unwrap(),
        "--sla-variable",
        "max_concurrency",
    ];
    let o = run(sweep(&f, "serve-sla", "", &args));
    assert!(o.status.success(), "{}", text(&o));
    let results = read_json(&f.exp().join("sla_results.json"));
    let answers: Vec<&Value> = results
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["value"])
        .collect();
    assert_eq!(answers, [&Value::from(10), &Value::from(4)]);
    for r in results.as_array().unwrap() {
        assert_eq!(r["verdict"], "pass");
        assert_eq!(r["sla_variable"], "max_concurrency");
        assert_eq!(r["combination"], "BENCH--num_prompts=100");
        let path = r["path"].as_array().unwrap();
        assert_eq!(
            path[0]["value"], 100,
            "the search starts at the dataset size"
        );
        assert!(path.iter().any(|p| p["verdict"] == "fail"));
    }
    // The value found passes and the next value up fails, as measured.
    let comb = f.exp().join("BENCH--num_prompts=100");
    let at = |c: u32| {
        read_json(&comb.join(format!("max_concurrency={c}/run=0.json")))["p99_e2el_ms"]
            .as_f64()
            .unwrap()
    };
    assert!(at(10) <= 500.0 && at(11) > 500.0);
    assert!(at(4) <= 230.0 && at(5) > 230.0);
    assert!(comb.join("SLA--p99_e2el_ms<=500.00.json").exists());
    let sla_runs = read_json(&comb.join("SLA--p99_e2el_ms<=230.00.json"));
    assert!(
        sla_runs
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["max_concurrency"].is_number())
    );
    // Runs at a value are shared between criteria sets: fewer benchmark runs than steps.
    let steps: u64 = results
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["steps"].as_u64().unwrap())
        .sum();
    assert!(
        (f.event_lines("bench").len() as u64) < steps,
        "{} runs for {steps} steps",
        f.event_lines("bench").len()
    );
    // The final count is of distinct runs: each benchmark run once (the rows of
    // summary.csv), fewer than the searches' own counts, which include shared runs.
    let summary_rows = std::fs::read_to_string(f.exp().join("summary.csv"))
        .unwrap()
        .lines()
        .count()
        - 1;
    assert_eq!(summary_rows, f.event_lines("bench").len());
    let per_search: u64 = results
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["runs"].as_u64().unwrap())
        .sum();
    assert!(
        (summary_rows as u64) < per_search,
        "{summary_rows} vs {per_search}"
    );
    let out = text(&o);
    assert!(
        out.contains(&format!("Benchmark runs: {summary_rows} distinct")),
        "{out}"
    );
    let csv = std::fs::read_to_string(f.exp().join("sla_results.csv")).unwrap();
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .starts_with(",combination,criteria_text,sla_variable,value,verdict"),
        "{csv}"
    );
    // Each step of the path column: value, margin (as in sla_results.json), verdict.
    let first_path = results[0]["path"].as_array().unwrap();
    let steps: Vec<String> = first_path
        .iter()
        .map(|p| {
            format!(
                "{}:{}:{}",
                p["value"],
                p["margin"].as_f64().unwrap(),
                p["verdict"].as_str().unwrap()
            )
        })
        .collect();
    let row = csv.lines().nth(1).unwrap();
    for step in &steps {
        let (value, rest) = step.split_once(':').unwrap();
        let (margin, verdict) = rest.rsplit_once(':').unwrap();
        assert!(
            row.split([' ', ',', '"']).any(|cell| {
                let parts: Vec<&str> = cell.split(':').collect();
                parts.len() == 3
                    && parts[0] == value
                    && parts[2] == verdict
                    && parts[1].parse::<f64>().ok() == margin.parse::<f64>().ok()
            }),
            "step {step} not in {row}"
        );
    }
    assert!(
        std::fs::read_to_string(f.exp().join("summary.csv"))
            .unwrap()
            .lines()
            .count() as u64
            > 1
    );
    assert!(stdout(&o).contains("largest passing value"));
    // Resumed when finished: nothing runs, no server starts, the same answers.
    let starts = f.event_lines("start").len();
    let o = run(sweep(
        &f,
        "serve-sla",
        "",
        &[&args[..], &["--resume"]].concat(),
    ));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(f.event_lines("start").len(), starts);
    assert_eq!(read_json(&f.exp().join("sla_results.json")), results);
    let out = text(&o);
    assert!(
        out.contains(&format!(
            "Benchmark runs: {summary_rows} distinct (a run shared by several criteria sets counts once"
        )) && out.contains(&format!("0 measured now, {summary_rows} reused")),
        "{out}"
    );
}

#[test]
fn request_rate_search_reaches_the_tolerance() {
    let f = Fixture::new();
    let sla = f.write("sla.json", r#"[{"p99_e2el_ms": "<=500"}]"#);
    let o = run(sweep(
        &f,
        "serve-sla",
        "",
        &[
            "--sla-params",
            sla.to_str().unwrap(),
            "--sla-tolerance",
            "0.01",
        ],
    ));
    assert!(o.status.success(), "{}", text(&o));
    let r = &read_json(&f.exp().join("sla_results.json"))[0];
    let v = r["value"].as_f64().unwrap();
    assert!((49.5..=50.0).contains(&v), "{r}");
    assert_eq!(r["path"][0]["value"], "inf");
    assert!(f.exp().join("request_rate=inf/run=0.json").exists());
    assert!(r["steps"].as_u64().unwrap() <= 12, "{r}");
}

#[test]
fn runs_that_disagree_get_more_runs() {
    let f = Fixture::new();
    // Odd runs report 60 ms more: at max_concurrency 10 (500 ms) run 0 passes, run 1 fails.
    let sla = f.write("sla.json", r#"[{"p99_e2el_ms": "<=500"}]"#);
    let bench = f.write("bench.json", r#"[{"num_prompts": 40}]"#);
    let o = run(sweep(
        &f,
        "serve-sla",
        "--jitter-odd-runs 60",
        &[
            "--sla-params",
            sla.to_str().unwrap(),
            "--bench-params",
            bench.to_str().unwrap(),
            "--sla-variable",
            "max_concurrency",
            "--num-runs",
            "2",
            "--max-runs",
            "4",
        ],
    ));
    assert!(o.status.success(), "{}", text(&o));
    let r = &read_json(&f.exp().join("sla_results.json"))[0];
    let path = r["path"].as_array().unwrap();
    let mixed: Vec<&Value> = path
        .iter()
        .filter(|p| p["verdict"] == "inconclusive")
        .collect();
    assert!(!mixed.is_empty(), "{r}");
    assert!(mixed.iter().all(|p| p["runs"] == 4), "{r}");
    assert!(
        path.iter()
            .filter(|p| p["verdict"] != "inconclusive")
            .all(|p| p["runs"] == 2),
        "{r}"
    );
}

#[test]
fn bad_sla_input_is_refused_before_anything_runs() {
    let f = Fixture::new();
    let cases = [
        (
            f.write("a.json", r#"[{"p99_e2el_ms": "==5"}]"#),
            vec![],
            "must start with one of",
        ),
        (
            f.write("b.json", r#"{"p99_e2el_ms": "<=5"}"#),
            vec![],
            "list of objects",
        ),
        (
            f.write("c.json", r#"[{"p99_e2el_ms": "<=500"}]"#),
            vec![
                "--bench-params".to_string(),
                f.write("bench.json", r#"[{"request_rate": 5}]"#)
                    .display()
                    .to_string(),
            ],
            "explored automatically",
        ),
        (
            f.write("d.json", r#"[{"p99_e2el_ms": "<=500"}]"#),
            vec!["--sla-tolerance".to_string(), "0".to_string()],
            "--sla-tolerance",
        ),
        (
            f.write("e.json", r#"[{"p99_e2el_ms": "<=500"}]"#),
            vec![
                "--max-runs".to_string(),
                "1".to_string(),
                "--num-runs".to_string(),
                "3".to_string(),
            ],
            "--max-runs",
        ),
    ];
    for (sla, more, expect) in cases {
        let mut args = vec!["--sla-params", sla.to_str().unwrap()];
        args.extend(more.iter().map(String::as_str));
        let o = run(sweep(&f, "serve-sla", "", &args));
        assert!(!o.status.success());
        assert!(stderr(&o).contains(expect), "{expect}: {}", text(&o));
    }
    assert_eq!(f.event_lines("start").len(), 0);
    let sla = f.write("f.json", r#"[{"p99_nope_ms": "<=500"}]"#);
    let o = run(sweep(
        &f,
        "serve_sla",
        "",
        &["--sla-params", sla.to_str().unwrap()],
    ));
    let err = stderr(&o);
    assert!(
        !o.status.success()
            && err.contains("p99_nope_ms")
            && err.contains("available metrics")
            && err.contains("p99_e2el_ms"),
        "{}",
        text(&o)
    );
}

#[test]
fn workload_levels_between_serial_and_batch() {
    let f = Fixture::new();
    let bench = f.write("bench.json", r#"[{"num_prompts": 20}]"#);
    let o = run(sweep(
        &f,
        "serve-workload",
        "",
        &[
            "--bench-params",
            bench.to_str().unwrap(),
            "--workload-iters",
            "4",
        ],
    ));
    assert!(o.status.success(), "{}", text(&o));
    // serial: rate 1 → 1 req/s; batch: rate 20 → 20 req/s; linspace(1, 20, 4) → 7, 14.
    for v in [1, 7, 14, 20] {
        let dir = f
            .exp()
            .join(format!("BENCH--num_prompts=20-WL--request_rate={v}"));
        let run = read_json(&dir.join("run=0.json"));
        assert_eq!(run["request_rate"], v, "{}", dir.display());
    }
    let serial = read_json(
        &f.exp()
            .join("BENCH--num_prompts=20-WL--request_rate=1/run=0.json"),
    );
    assert_eq!(serial["max_concurrency"], 1);
    let batch = read_json(
        &f.exp()
            .join("BENCH--num_prompts=20-WL--request_rate=20/run=0.json"),
    );
    assert_eq!(batch["max_concurrency"], 20);
    assert_eq!(
        std::fs::read_to_string(f.exp().join("summary.csv"))
            .unwrap()
            .lines()
            .count(),
        5
    );
    let o = run(sweep(&f, "serve_workload", "", &["--workload-iters", "1"]));
    assert!(
        stderr(&o).contains("--workload-iters must be at least 2"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_failed_search_gets_a_row_saying_so() {
    let f = Fixture::new();
    let sla = f.write("sla.json", r#"[{"p99_e2el_ms": "<=500"}]"#);
    let bench = f.write("bench.json", r#"[{"num_prompts": 100}]"#);
    let o = run(sweep(
        &f,
        "serve-sla",
        "--fail-if max-concurrency=100",
        &[
            "--sla-params",
            sla.to_str().unwrap(),
            "--bench-params",
            bench.to_str().unwrap(),
            "--sla-variable",
            "max_concurrency",
            "--continue-on-error",
        ],
    ));
    assert!(o.status.success(), "{}", text(&o));
    let results = read_json(&f.exp().join("sla_results.json"));
    let rows = results.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{results:#}");
    assert_eq!(rows[0]["combination"], "BENCH--num_prompts=100");
    assert_eq!(rows[0]["verdict"], "failed");
    assert!(rows[0]["value"].is_null());
    assert!(
        rows[0]["error"]
            .as_str()
            .unwrap()
            .contains("no run succeeded"),
        "{results:#}"
    );
    let csv = std::fs::read_to_string(f.exp().join("sla_results.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let verdict = header.iter().position(|h| *h == "verdict").unwrap();
    assert!(header.contains(&"error"), "{csv}");
    let row = csv.lines().nth(1).expect(&csv);
    assert_eq!(row.split(',').nth(verdict), Some("failed"), "{csv}");
    assert!(stdout(&o).contains("failed"), "{}", text(&o));
}
