//! End-to-end tests of scale-out: a sweep run as shards — separate processes, at the same
//! time, each with its own server on its own port — then `llmsweep merge`, gives the same
//! combinations, run files and summaries as one process; `llmsweep plan` writes an sbatch
//! script that bash accepts (and that runs the shards) and a Job manifest with what
//! Kubernetes requires.
//!
//! Each serve item names its server's port (`{"port": P}`), linked to the bench items'
//! (`--link-vars port=port`), so that shards on one machine never share a port.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

use common::{
    clear_shard_env, llmsweep, read_json, run, run_together, stderr, stdout, support, text, write,
};

/// The server and benchmark commands of every sweep here; the port comes from the items.
/// Moving to the simulator is this function (`llmsweep sim --host 127.0.0.1 --port 1`, and
/// `llmsweep bench serve --port 1`).
fn server_and_bench(bench_extra: &str) -> [String; 4] {
    [
        "--serve-cmd".into(),
        format!("{} serve m --host 127.0.0.1 --port 1", support("fake-vllm")),
        "--bench-cmd".into(),
        format!("{} --port 1 {bench_extra}", support("fake-bench")),
    ]
}

/// `n` distinct free ports (held together while chosen, so they differ).
fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    held.iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// A temporary folder with serve items on their own ports and two bench items per server.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(servers: usize, bench_item: Value) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ports = free_ports(servers);
        let serve: Vec<Value> = ports
            .iter()
            .enumerate()
            // Plan order (24, 16, 8) is not the folders' name order (16, 24, 8).
            .map(|(i, p)| json!({"max_num_seqs": 8 * (servers - i), "port": p}))
            .collect();
        let mut bench = Vec::new();
        for p in &ports {
            for item in bench_item.as_array().unwrap() {
                let mut item = item.as_object().unwrap().clone();
                item.insert("port".into(), json!(p));
                bench.push(Value::Object(item));
            }
        }
        write(dir.path(), "serve.json", &json!(serve).to_string());
        write(dir.path(), "bench.json", &json!(bench).to_string());
        Self { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The sweep's flags, results in `<tmp>/<out>/e` (`None`: in `results/e`, relative to
    /// where it runs).
    fn sweep_args(&self, sub: &str, out: Option<&str>, bench_extra: &str) -> Vec<String> {
        let mut args = vec![sub.to_string()];
        args.extend(server_and_bench(bench_extra));
        let mut paths = vec![
            ("--serve-params", self.path("serve.json")),
            ("--bench-params", self.path("bench.json")),
        ];
        if let Some(out) = out {
            paths.push(("-o", self.path(out)));
        }
        for (flag, value) in paths {
            args.push(flag.into());
            args.push(value.to_string_lossy().into_owned());
        }
        args.extend(
            [
                "--link-vars",
                "port=port",
                "-e",
                "e",
                "--num-runs",
                "1",
                "--server-ready-timeout",
                "20",
            ]
            .map(String::from),
        );
        args
    }

    fn sweep(&self, sub: &str, out: &str, more: &[&str]) -> Command {
        let mut c = llmsweep();
        c.args(self.sweep_args(sub, Some(out), "")).args(more);
        c
    }

    /// One shard by each way a shard can be chosen: the flag, Slurm's array variables,
    /// Kubernetes' completion index with --num-shards.
    fn three_shards(&self, sub: &str, outs: [&str; 3], more: &[&str]) -> Vec<Command> {
        let mut by_flag = self.sweep(sub, outs[0], more);
        by_flag.args(["--shard", "0/3"]);
        let mut by_slurm = self.sweep(sub, outs[1], more);
        by_slurm
            .env("SLURM_ARRAY_TASK_ID", "1")
            .env("SLURM_ARRAY_TASK_COUNT", "3");
        let mut by_k8s = self.sweep(sub, outs[2], more);
        by_k8s
            .env("JOB_COMPLETION_INDEX", "2")
            .args(["--num-shards", "3"]);
        vec![by_flag, by_slurm, by_k8s]
    }

    fn merge(&self, dirs: &[&str]) -> Output {
        let mut c = llmsweep();
        c.arg("merge");
        for d in dirs {
            c.arg(self.path(d));
        }
        run(c)
    }
}

/// Values that are measured, not planned: they may differ between two runs of a sweep.
fn is_measured(key: &str) -> bool {
    key == "date"
        || key == "duration"
        || key == "margin"
        || key.ends_with("_ms")
        || key.contains("throughput")
        || key.contains("_time")
        || key.contains("percentiles")
}

fn without_measures(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !is_measured(k))
                .map(|(k, v)| (k.clone(), without_measures(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_measures).collect()),
        other => other.clone(),
    }
}

/// An experiment's results: every file below it by relative path — JSON files by their
/// contents without measured values, others by name only — leaving out what records who
/// ran it (experiment.json, `.llmsweep/`) and the shards' own summaries.
fn results(exp: &Path) -> BTreeMap<String, Option<Value>> {
    fn walk(dir: &Path, rel: &str, out: &mut BTreeMap<String, Option<Value>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            if entry.path().is_dir() {
                if name != ".llmsweep" {
                    walk(&entry.path(), &rel, out);
                }
            } else if rel != "experiment.json" && !name.contains("-shard-") && name != "summary.csv"
            {
                let json = name
                    .ends_with(".json")
                    .then(|| without_measures(&read_json(&entry.path())));
                out.insert(rel, json);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(exp, "", &mut out);
    out
}

/// `summary.csv`'s rows without the measured columns.
fn csv_rows(exp: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(exp.join("summary.csv")).unwrap();
    let rows: Vec<Vec<String>> = text
        .lines()
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    let keep: Vec<bool> = rows[0].iter().map(|h| !is_measured(h)).collect();
    rows.iter()
        .map(|r| {
            r.iter()
                .zip(&keep)
                .filter(|(_, k)| **k)
                .map(|(c, _)| c.clone())
                .collect()
        })
        .collect()
}

fn assert_same_results(reference: &Path, merged: &Path) {
    let (want, got) = (results(reference), results(merged));
    assert_eq!(
        want.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>(),
        "files differ"
    );
    for (path, contents) in &want {
        assert_eq!(contents, &got[path], "{path}");
    }
    assert_eq!(csv_rows(reference), csv_rows(merged));
}

/// Two bench items per server, in an order that is not their folders' name order.
const TWO_LOADS: &str = r#"[{"max_concurrency": 2}, {"max_concurrency": 1}]"#;

#[test]
fn shards_then_merge_give_what_one_sweep_gives() {
    let f = Fixture::new(3, serde_json::from_str(TWO_LOADS).unwrap());
    let o = run(f.sweep("serve", "one", &[]));
    assert!(o.status.success(), "{}", text(&o));
    let reference = f.path("one/e");
    assert_eq!(
        std::fs::read_dir(&reference)
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("SERVE--"))
            .count(),
        6
    );

    // Three processes at once, into one shared folder.
    run_together(f.three_shards("serve", ["shared"; 3], &[]));
    assert!(!f.path("shared/e/summary.csv").exists());
    let o = f.merge(&["shared/e"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = stdout(&o);
    assert!(
        out.contains("6 of 6 planned combinations complete, 0 missing, 0 failed"),
        "{out}"
    );
    assert_same_results(&reference, &f.path("shared/e"));

    // Three processes at once, each into its own folder, merged into a new one.
    run_together(f.three_shards("serve", ["s0", "s1", "s2"], &[]));
    let o = f.merge(&["merged/e", "s0/e", "s1/e", "s2/e"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_same_results(&reference, &f.path("merged/e"));
    for record in ["shard-0.json", "shard-1.json", "shard-2.json"] {
        assert!(
            f.path("merged/e/.llmsweep").join(record).exists(),
            "{record}"
        );
    }
}

#[test]
fn folders_of_different_sweeps_are_not_merged() {
    let f = Fixture::new(
        2,
        serde_json::from_str(r#"[{"max_concurrency": 1}]"#).unwrap(),
    );
    let mut a = f.sweep("serve", "a", &["--shard", "0/2"]);
    a.stdout(Stdio::null());
    let mut b = f.sweep(
        "serve",
        "b",
        &["--shard", "1/2", "--warmup-num-prompts", "2"],
    );
    b.stdout(Stdio::null());
    run_together(vec![a, b]);
    let o = f.merge(&["m/e", "a/e", "b/e"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("ran different sweeps") && err.contains("warmup_num_prompts: 0 vs 2"),
        "{}",
        text(&o)
    );
    assert!(err.contains(&f.path("b/e").display().to_string()), "{err}");
    assert!(!f.path("m").exists(), "nothing is written when refused");
}

#[test]
fn missing_and_failed_combinations_are_listed_and_exit_1() {
    let f = Fixture::new(3, serde_json::from_str(TWO_LOADS).unwrap());
    let mut c = llmsweep();
    c.args(f.sweep_args("serve", Some("out"), "--fail-if max-concurrency=2"))
        .args(["--shard", "0/3", "--continue-on-error"]);
    let o = run(c);
    assert!(o.status.success(), "{}", text(&o));
    let o = f.merge(&["out/e"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = stdout(&o);
    assert!(
        out.contains("1 of 6 planned combinations complete, 4 missing, 1 failed"),
        "{out}"
    );
    assert_eq!(out.matches(": not run").count(), 4, "{out}");
    let failure = out
        .lines()
        .find(|l| l.contains("run=0.failure.json: BenchmarkFailed"))
        .unwrap_or_else(|| panic!("no failure listed: {out}"));
    assert!(failure.contains("BENCH--max_concurrency=2-port="), "{out}");
    // What could be written was: the one complete combination.
    assert_eq!(csv_rows(&f.path("out/e")).len(), 2);
}

#[test]
fn sla_shards_then_merge_give_the_same_answers() {
    let f = Fixture::new(2, serde_json::from_str(r#"[{"num_prompts": 20}]"#).unwrap());
    let sla = write(
        f.dir.path(),
        "sla.json",
        r#"[{"p99_e2el_ms": "<=230"}, {"p99_e2el_ms": "<=500"}]"#,
    );
    let more = [
        "--sla-params",
        sla.to_str().unwrap(),
        "--sla-variable",
        "max_concurrency",
    ];
    let o = run(f.sweep("serve-sla", "one", &more));
    assert!(o.status.success(), "{}", text(&o));
    let mut shards = Vec::new();
    for k in ["0/2", "1/2"] {
        let mut c = f.sweep("serve-sla", "shared", &more);
        c.args(["--shard", k]);
        shards.push(c);
    }
    run_together(shards);
    let o = f.merge(&["shared/e"]);
    assert!(o.status.success(), "{}", text(&o));
    let want = without_measures(&read_json(&f.path("one/e/sla_results.json")));
    let got = without_measures(&read_json(&f.path("shared/e/sla_results.json")));
    assert_eq!(want.as_array().unwrap().len(), 4);
    assert_eq!(got, want);
    let values: Vec<&Value> = got
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["value"])
        .collect();
    assert_eq!(values, [&json!(4), &json!(10), &json!(4), &json!(10)]);
    assert_same_results(&f.path("one/e"), &f.path("shared/e"));
}

#[test]
fn workload_shards_then_merge_give_the_same_curves() {
    let f = Fixture::new(2, serde_json::from_str(r#"[{"num_prompts": 10}]"#).unwrap());
    let more = ["--workload-var", "max_concurrency", "--workload-iters", "4"];
    let o = run(f.sweep("serve-workload", "one", &more));
    assert!(o.status.success(), "{}", text(&o));
    let shards = ["0/2", "1/2"]
        .map(|k| {
            let mut c = f.sweep("serve-workload", "shared", &more);
            c.args(["--shard", k]);
            c
        })
        .into();
    run_together(shards);
    let o = f.merge(&["shared/e"]);
    assert!(o.status.success(), "{}", text(&o));
    // Serial, the levels between, batch: the curve's order, not the levels' values'.
    assert_eq!(csv_rows(&f.path("shared/e")).len(), 1 + 2 * 4);
    assert_same_results(&f.path("one/e"), &f.path("shared/e"));
}

#[test]
fn startup_shards_then_merge_give_what_one_sweep_gives() {
    // `port` is a key the startup command does not take: dropped from folder names.
    let f = Fixture::new(3, serde_json::from_str(TWO_LOADS).unwrap());
    write(f.dir.path(), "startup.json", r#"[{"num_iters_cold": 1}]"#);
    let startup = |out: &str, shard: Option<&str>| {
        let mut c = llmsweep();
        c.args([
            "startup",
            "--startup-cmd",
            &format!("{} --model m", support("fake-vllm-bench-startup")),
        ])
        .arg("--serve-params")
        .arg(f.path("serve.json"))
        .arg("--startup-params")
        .arg(f.path("startup.json"))
        .arg("-o")
        .arg(f.path(out))
        .args(["-e", "e"]);
        if let Some(k) = shard {
            c.args(["--shard", k]);
        }
        c
    };
    let o = run(startup("one", None));
    assert!(o.status.success(), "{}", text(&o));
    run_together(
        ["0/3", "1/3", "2/3"]
            .map(|k| startup("shared", Some(k)))
            .into(),
    );
    let o = f.merge(&["shared/e"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        stdout(&o).contains("3 of 3 planned combinations complete"),
        "{}",
        text(&o)
    );
    assert!(
        f.path("shared/e/SERVE--max_num_seqs=24-STARTUP--num_iters_cold=1")
            .is_dir()
    );
    assert_same_results(&f.path("one/e"), &f.path("shared/e"));
}

#[test]
fn the_sbatch_script_passes_bash_and_runs_its_shards() {
    let f = Fixture::new(2, serde_json::from_str(TWO_LOADS).unwrap());
    let workdir = f.path("shared folder");
    std::fs::create_dir_all(&workdir).unwrap();
    let script = f.path("tp sweep.sbatch");
    // The sweep's results go to the relative `results`, inside --workdir.
    let sweep = f.sweep_args("serve", None, "");
    let mut c = llmsweep();
    c.args([
        "plan",
        "slurm",
        "--partition",
        "gpu",
        "--gpus",
        "1",
        "--time",
        "10",
    ])
    .arg("--workdir")
    .arg(&workdir)
    .arg("--llmsweep")
    .arg(env!("CARGO_BIN_EXE_llmsweep"))
    .arg("-o")
    .arg(&script)
    .arg("--")
    .args(&sweep);
    let o = run(c);
    assert!(o.status.success(), "{}", text(&o));
    let body = std::fs::read_to_string(&script).unwrap();
    assert!(body.contains("#SBATCH --array=0-1\n"), "{body}");
    assert!(body.contains("#SBATCH --gpus-per-task=1\n"), "{body}");
    let o = run({
        let mut c = Command::new("bash");
        c.arg("-n").arg(&script);
        c
    });
    assert!(o.status.success(), "bash -n: {}\n{body}", text(&o));
    // Run the script as Slurm would run its two array tasks.
    let tasks = (0..2)
        .map(|k| {
            let mut c = Command::new("bash");
            clear_shard_env(&mut c)
                .arg(&script)
                .env("SLURM_ARRAY_TASK_ID", k.to_string())
                .env("SLURM_ARRAY_TASK_COUNT", "2")
                .stdin(Stdio::null());
            c
        })
        .collect();
    run_together(tasks);
    let mut c = llmsweep();
    c.arg("merge").arg(workdir.join("results/e"));
    let o = run(c);
    assert!(o.status.success(), "{}", text(&o));
    assert!(stdout(&o).contains("4 of 4 planned combinations complete"));
}

#[test]
fn the_job_manifest_is_yaml_with_what_kubernetes_requires() {
    let f = Fixture::new(3, serde_json::from_str(TWO_LOADS).unwrap());
    let mut c = llmsweep();
    c.args([
        "plan",
        "k8s",
        "--image",
        "example/llmsweep:1",
        "--pvc",
        "sweeps",
        "--gpus",
        "2",
        "--cpus",
        "8",
        "--memory",
        "64G",
        "--",
    ])
    .args(f.sweep_args("serve", None, ""));
    let o = run(c);
    assert!(o.status.success(), "{}", text(&o));
    let m: Value = serde_yaml_ng::from_str(&stdout(&o))
        .unwrap_or_else(|e| panic!("not YAML: {e}\n{}", text(&o)));
    assert_eq!(m["apiVersion"], "batch/v1");
    assert_eq!(m["kind"], "Job");
    assert_eq!(m["metadata"]["name"], "e");
    let spec = &m["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    assert_eq!(
        (&spec["completions"], &spec["parallelism"]),
        (&json!(3), &json!(3))
    );
    assert!(spec["backoffLimit"].is_u64());
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    let container = &pod["containers"][0];
    assert_eq!(container["image"], "example/llmsweep:1");
    assert!(container["name"].is_string());
    let command: Vec<&str> = container["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert_eq!(&command[..2], ["llmsweep", "serve"]);
    assert_eq!(&command[command.len() - 2..], ["--num-shards", "3"]);
    assert_eq!(container["resources"]["limits"]["nvidia.com/gpu"], "2");
    assert_eq!(container["resources"]["requests"]["memory"], "64Gi");
    assert_eq!(
        pod["volumes"][0]["persistentVolumeClaim"]["claimName"],
        "sweeps"
    );
    assert_eq!(
        container["volumeMounts"][0]["name"],
        pod["volumes"][0]["name"]
    );

    // More shards than serve items: some would have nothing to do.
    let mut c = llmsweep();
    c.args(["plan", "slurm", "--num-shards", "4", "--"])
        .args(f.sweep_args("serve", None, ""));
    let o = run(c);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("nothing to do"), "{}", text(&o));
}
