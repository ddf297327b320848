//! End-to-end tests of `llmsweep serve-sla` and `llmsweep serve-workload` with the
//! stand-in server and benchmark of tests/support (fake-bench's p99 E2E latency is
//! 50 ms × max_concurrency, or 10 ms × request_rate when a rate is set).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn support(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/support")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

struct Fixture {
    dir: tempfile::TempDir,
    port: u16,
}

impl Fixture {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            port: std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port(),
        }
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    fn write(&self, rel: &str, text: &str) -> String {
        let p = self.path(rel);
        std::fs::write(&p, text).unwrap();
        p.to_string_lossy().into_owned()
    }
    fn events(&self) -> Vec<String> {
        std::fs::read_to_string(self.path("events.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
    fn count(&self, prefix: &str) -> usize {
        self.events()
            .iter()
            .filter(|l| l.starts_with(prefix))
            .count()
    }
    fn cmd(&self, sub: &str, bench_extra: &str, args: &[&str]) -> Command {
        let ev = self.path("events.log");
        let mut c = Command::new(env!("CARGO_BIN_EXE_llmsweep"));
        c.arg(sub)
            .args([
                "--serve-cmd",
                &format!(
                    "{} serve m --host 127.0.0.1 --port {} --events {}",
                    support("fake-vllm"),
                    self.port,
                    ev.display()
                ),
            ])
            .args([
                "--bench-cmd",
                &format!(
                    "{} --port {} --events {} {bench_extra}",
                    support("fake-bench"),
                    self.port,
                    ev.display()
                ),
            ])
            .arg("-o")
            .arg(self.path("out"))
            .args(["-e", "e", "--num-runs", "1"])
            .args(args)
            .stdin(Stdio::null());
        c
    }
    fn exp(&self) -> PathBuf {
        self.path("out/e")
    }
}

fn run(mut c: Command) -> Output {
    c.output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "status: {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
    )
    .unwrap()
}

#[test]
fn max_concurrency_search_finds_each_boundary_and_shares_runs() {
    let f = Fixture::new();
    let sla = f.write(
        "sla.json",
        r#"[{"p99_e2el_ms": "<=500"}, {"p99_e2el_ms": "<=230"}]"#,
    );
    let bench = f.write("bench.json", r#"[{"num_prompts": 100}]"#);
    let o = run(f.cmd(
        "serve-sla",
        "",
        &[
            "--sla-params",
            &sla,
            "--bench-params",
            &bench,
            "--sla-variable",
            "max_concurrency",
        ],
    ));
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
        (f.count("bench") as u64) < steps,
        "{} runs for {steps} steps",
        f.count("bench")
    );
    let csv = std::fs::read_to_string(f.exp().join("sla_results.csv")).unwrap();
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .starts_with(",combination,criteria_text,sla_variable,value,verdict"),
        "{csv}"
    );
    assert!(
        std::fs::read_to_string(f.exp().join("summary.csv"))
            .unwrap()
            .lines()
            .count() as u64
            > 1
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("largest passing value"));
    // Resumed when finished: nothing runs, no server starts, the same answers.
    let starts = f.count("start");
    let o = run(f.cmd(
        "serve-sla",
        "",
        &[
            "--sla-params",
            &sla,
            "--bench-params",
            &bench,
            "--sla-variable",
            "max_concurrency",
            "--resume",
        ],
    ));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(f.count("start"), starts);
    assert_eq!(read_json(&f.exp().join("sla_results.json")), results);
}

#[test]
fn request_rate_search_reaches_the_tolerance() {
    let f = Fixture::new();
    let sla = f.write("sla.json", r#"[{"p99_e2el_ms": "<=500"}]"#);
    let o = run(f.cmd(
        "serve-sla",
        "",
        &["--sla-params", &sla, "--sla-tolerance", "0.01"],
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
    let o = run(f.cmd(
        "serve-sla",
        "--jitter-odd-runs 60",
        &[
            "--sla-params",
            &sla,
            "--bench-params",
            &bench,
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
                f.write("bench.json", r#"[{"request_rate": 5}]"#),
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
        let mut args = vec!["--sla-params", &sla];
        args.extend(more.iter().map(String::as_str));
        let o = run(f.cmd("serve-sla", "", &args));
        assert!(!o.status.success());
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(expect),
            "{expect}: {}",
            text(&o)
        );
    }
    assert_eq!(f.count("start"), 0);
    let sla = f.write("f.json", r#"[{"p99_nope_ms": "<=500"}]"#);
    let o = run(f.cmd("serve_sla", "", &["--sla-params", &sla]));
    let err = String::from_utf8_lossy(&o.stderr);
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
    let o = run(f.cmd(
        "serve-workload",
        "",
        &["--bench-params", &bench, "--workload-iters", "4"],
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
    let o = run(f.cmd("serve_workload", "", &["--workload-iters", "1"]));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--workload-iters must be at least 2"),
        "{}",
        text(&o)
    );
}
