//! `llmsweep plot-pareto` end to end.

mod common;

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;

use common::copy_of;

fn pareto(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("llmsweep").unwrap();
    c.arg("plot-pareto").arg(dir);
    c
}

#[test]
fn writes_png_and_svg_under_pareto() {
    let (_t, dir) = copy_of("vllm");
    pareto(&dir)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "Plotted 12 points; Pareto frontier size: ",
        ))
        .stdout(predicate::str::contains(format!(
            "Output file: {}",
            dir.join("pareto/PARETO.png").display()
        )));
    let png = std::fs::read(dir.join("pareto/PARETO.png")).unwrap();
    assert_eq!(&png[..4], b"\x89PNG");
    let svg = std::fs::read_to_string(dir.join("pareto/PARETO.svg")).unwrap();
    assert!(svg.contains("Output throughput per user (tok/s/user)"));
    assert!(svg.contains("Output throughput per GPU (tok/s/GPU)"));
    assert!(svg.contains("max_concurrency="));
}

#[test]
fn dry_run_prints_the_frontier_and_draws_nothing() {
    let (_t, dir) = copy_of("llmsweep-serve");
    pareto(&dir)
        .args([
            "--dry-run",
            "--label-by",
            "max_concurrency,max_num_seqs,gpu_count",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("Group: {}"))
        .stdout(predicate::str::contains("Plotted 11 points"))
        .stdout(predicate::str::contains("Pareto frontier size: 3."))
        .stdout(predicate::str::contains(
            "max_concurrency=16, max_num_seqs=32, gpu_count=1",
        ))
        .stdout(predicate::str::contains(
            "(SERVE--max_num_seqs=32-BENCH--max_concurrency=16)",
        ))
        .stdout(predicate::str::contains("Dry run: nothing drawn."));
    assert!(!dir.join("pareto").exists());
}

#[test]
fn runs_without_users_are_skipped_and_counted_and_gpus_are_derived() {
    let tmp = tempfile::tempdir().unwrap();
    let comb = tmp.path().join("SERVE--tp=2-BENCH--x");
    std::fs::create_dir_all(&comb).unwrap();
    std::fs::write(
        comb.join("summary.json"),
        r#"[
  {"output_throughput": 800.0, "max_concurrency": 8, "tensor_parallel_size": 2, "pipeline_parallel_size": 2, "num_gpus": 2},
  {"output_throughput": 300.0, "max_concurrency": 2, "tensor_parallel_size": 2, "users": 4},
  {"output_throughput": 500.0, "max_concurrency": null},
  {"output_throughput": 900.0, "request_rate": "inf"},
  {"output_throughput": "nan", "max_concurrency": 4}
]"#,
    )
    .unwrap();
    pareto(tmp.path())
        .args(["--dry-run", "--format", "png"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "Skipped 1 runs without a user count (max_concurrency, request_rate or max_concurrent_requests).",
        ))
        .stdout(predicate::str::contains(
            "Left out 1 runs whose output_throughput is NaN.",
        ))
        // The NaN run is not a point; an infinite request rate is, at 0 tokens/s/user
        // (as in vLLM).
        .stdout(predicate::str::contains("Plotted 3 points"))
        .stdout(predicate::str::contains("0         900  gpu_count=1"))
        // 800 tok/s over 8 users and 4 GPUs; 300 over 2 users and 2 GPUs.
        .stdout(predicate::str::contains("100         200  max_concurrency=8, gpu_count=4"))
        .stdout(predicate::str::contains("150         150  max_concurrency=2, gpu_count=2"));
    // --gpu-count-var wins where the run has it, else TP × PP × DP.
    pareto(tmp.path())
        .args(["--dry-run", "--gpu-count-var", "num_gpus"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "100         400  max_concurrency=8, gpu_count=2",
        ))
        .stdout(predicate::str::contains(
            "150         150  max_concurrency=2, gpu_count=2",
        ));
    // --user-count-var replaces max_concurrency; request_rate and max_concurrent_requests
    // remain the fallbacks, as in vLLM.
    pareto(tmp.path())
        .args([
            "--dry-run",
            "--user-count-var",
            "users",
            "--label-by",
            "users",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "Skipped 3 runs without a user count (users,",
        ))
        .stdout(predicate::str::contains("75         150  users=4"));
}

#[test]
fn no_user_counts_at_all_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("summary.json"),
        r#"[{"output_throughput": 1.0, "request_rate": 0}]"#,
    )
    .unwrap();
    pareto(tmp.path())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("has a user count"));
    std::fs::write(
        tmp.path().join("summary.json"),
        r#"[{"output_throughput": "nan", "max_concurrency": 2}]"#,
    )
    .unwrap();
    pareto(tmp.path())
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "1 have a NaN output_throughput and 0 no user count",
        ));
    std::fs::write(
        tmp.path().join("summary.json"),
        r#"[{"max_concurrency": 1}]"#,
    )
    .unwrap();
    pareto(tmp.path())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("has no output_throughput (runs of a start-up sweep have none). Its variables: max_concurrency"))
        .stderr(predicate::str::contains("(in a run of").not());
}

#[test]
fn underscore_alias_works() {
    let (_t, dir) = copy_of("vllm");
    let mut c = Command::cargo_bin("llmsweep").unwrap();
    c.arg("plot_pareto")
        .arg(&dir)
        .args(["--dry_run", "--label_by", "max_num_seqs"])
        .assert()
        .success()
        .stdout(predicate::str::contains("max_num_seqs="));
}

#[test]
fn a_variable_named_on_the_command_line_must_exist() {
    let (_t, dir) = copy_of("llmsweep-serve");
    for (flag, var) in [
        ("--user-count-var", "max_concurency"),
        ("--gpu-count-var", "num_gpu"),
        ("--label-by", "max_concurrency,max_num_seq"),
    ] {
        let what = flag.trim_start_matches("--").replace('-', "_");
        let bad = var.rsplit(',').next().unwrap();
        pareto(&dir)
            .args(["--dry-run", flag, var])
            .assert()
            .code(1)
            .stderr(predicate::str::contains(format!(
                "cannot find {what}='{bad}' in the parameter sweep results. Available variables: "
            )))
            .stderr(predicate::str::contains("max_num_seqs"));
    }
    // Derived labels and the other spelling of a key are fine.
    pareto(&dir)
        .args([
            "--dry-run",
            "--user-count-var",
            "max-concurrency",
            "--label-by",
            "user_count,gpu_count",
        ])
        .assert()
        .success();
    // The defaults may be missing (a request-rate sweep has no max_concurrency).
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("summary.json"),
        r#"[{"output_throughput": 100.0, "request_rate": 4}]"#,
    )
    .unwrap();
    pareto(tmp.path())
        .arg("--dry-run")
        .assert()
        .success()
        .stdout(predicate::str::contains("Plotted 1 points"));
}
