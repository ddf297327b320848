//! Scale-out against the real simulator and client: three shards run at the same time as
//! separate processes, each starting its own `llmsweep sim` on its own free port, into one
//! experiment folder; `llmsweep merge` then gives the same combinations and files as one
//! sweep without shards. (scaleout_e2e.rs checks the merged values exactly, with
//! deterministic stand-ins.)

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{llmsweep, run, run_together, stdout, text, write};

/// Every file below `dir` that holds results (run and summary files), relative.
fn result_files(dir: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                if (name.starts_with("run=") && name.ends_with(".json"))
                    || name == "summary.json"
                    || name == "summary.csv"
                {
                    out.insert(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

fn sweep(dir: &Path, out: &Path, shard: Option<&str>) -> Command {
    let mut c = llmsweep();
    c.args(["serve", "--serve-params"])
        .arg(dir.join("serve.json"))
        .arg("--bench-params")
        .arg(dir.join("bench.json"))
        .args(["--num-runs", "1", "-e", "e", "-o"])
        .arg(out);
    if let Some(s) = shard {
        c.args(["--shard", s]);
    }
    c
}

#[test]
fn three_shards_with_their_own_simulators_merge_into_one_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "serve.json",
        r#"[{"max_num_seqs": 4}, {"max_num_seqs": 8}, {"max_num_seqs": 16}, {"max_num_seqs": 32}]"#,
    );
    write(
        d,
        "bench.json",
        r#"[{"max_concurrency": 2, "num_prompts": 4, "random_input_len": 32, "random_output_len": 8}, {"max_concurrency": 8, "num_prompts": 8, "random_input_len": 32, "random_output_len": 8}]"#,
    );
    let shared: PathBuf = d.join("shards");
    let shards = ["0/3", "1/3", "2/3"].map(|s| sweep(d, &shared, Some(s)));
    for o in run_together(shards.into()) {
        assert!(stdout(&o).contains("llmsweep merge"), "{}", text(&o));
    }
    let exp = shared.join("e");
    for k in 0..3 {
        assert!(
            exp.join(format!("summary-shard-{k}.csv")).exists(),
            "shard {k} wrote its own summary"
        );
    }
    let mut m = llmsweep();
    m.arg("merge").arg(&exp);
    let o = run(m);
    assert!(o.status.success(), "{}", text(&o));
    assert!(exp.join("report.html").exists() && exp.join("pareto/PARETO.png").exists());
    let one = d.join("one");
    let o = run(sweep(d, &one, None));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(result_files(&exp), result_files(&one.join("e")));
    assert_eq!(
        result_files(&exp).len(),
        4 * 2 * 2 + 1,
        "8 combinations × (run + summary) + summary.csv"
    );
    let rows = |p: &Path| std::fs::read_to_string(p).unwrap().lines().count();
    assert_eq!(
        rows(&exp.join("summary.csv")),
        rows(&one.join("e/summary.csv"))
    );
    // Every shard ran its own server: four server logs, each with its own port.
    let ports: BTreeSet<String> = std::fs::read_dir(exp.join("servers"))
        .unwrap()
        .flatten()
        .map(|e| {
            let log = std::fs::read_to_string(e.path()).unwrap();
            // The command of the (first) start, below its header.
            let first = log
                .lines()
                .find(|l| l.starts_with("$ "))
                .unwrap()
                .to_string();
            first
                .split("--port ")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        ports.len(),
        3,
        "one simulator port per shard process: {ports:?}"
    );
}
