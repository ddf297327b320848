//! `llmsweep plot` end to end: the real binary on fixture folders made by vLLM's own sweep
//! and by llmsweep.

mod common;

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;

use common::copy_of;

fn plot(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("llmsweep").unwrap();
    c.arg("plot").arg(dir);
    c
}

fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        path.display()
    );
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    (w, h)
}

fn files_in(dir: &Path, ext: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(ext))
        .collect();
    v.sort();
    v
}

#[test]
fn vllm_folder_with_vllm_defaults() {
    let (_t, dir) = copy_of("vllm");
    plot(&dir)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "[BEGIN FIGURE]\nGroup: {}\nGrid: 1 rows x 1 cols\n",
        ))
        .stdout(predicate::str::contains(format!(
            "Output file: {}",
            dir.join("FIGURE.png").display()
        )))
        .stdout(predicate::str::contains("Runs: 12 (12 points, 1 curves)"));
    let (w, h) = png_size(&dir.join("FIGURE.png"));
    assert!(w > 600 && h > 500, "{w}x{h}");
    assert_eq!(files_in(&dir, ".png"), ["FIGURE.png"]);
}

#[test]
fn figures_per_group_named_like_vllm_in_both_formats() {
    let (_t, dir) = copy_of("llmsweep-serve");
    plot(&dir)
        .args(["--fig-by", "max_num_seqs", "--curve-by", "max_concurrency"])
        .args(["--format", "both", "--fig-dir", "figs", "--fig-name", "lat"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Group: {'max_num_seqs': '8'}"))
        .stdout(predicate::str::contains("Group: {'max_num_seqs': '32'}"))
        .stdout(predicate::str::contains("Wrote 4 file(s) for 2 figure(s)."));
    let figs = dir.join("figs");
    assert_eq!(
        files_in(&figs, ""),
        [
            "lat-max_num_seqs=32.png",
            "lat-max_num_seqs=32.svg",
            "lat-max_num_seqs=8.png",
            "lat-max_num_seqs=8.svg"
        ]
    );
    let svg = std::fs::read_to_string(figs.join("lat-max_num_seqs=8.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("max_num_seqs=8"));
    assert!(svg.contains("max_concurrency"), "legend title");
}

#[test]
fn dry_run_prints_grids_and_files_and_draws_nothing() {
    let (_t, dir) = copy_of("llmsweep-serve");
    let before = files_in(&dir, "");
    plot(&dir)
        .args([
            "--row-by",
            "max_num_seqs",
            "--col-by",
            "max_concurrency",
            "--dry-run",
        ])
        .args(["--var-y", "median_ttft_ms", "--format", "svg"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Grid: 2 rows x 3 cols"))
        .stdout(predicate::str::contains(format!(
            "Output file: {}",
            dir.join("FIGURE.svg").display()
        )))
        .stdout(predicate::str::contains(
            "Dry run: 1 figure(s) planned, nothing drawn.",
        ));
    assert_eq!(files_in(&dir, ""), before);
}

#[test]
fn filters_bins_and_scales() {
    let (_t, dir) = copy_of("llmsweep-serve");
    plot(&dir)
        .args([
            "--filter-by",
            "max_concurrency>=4,max_num_seqs!=8",
            "--dry-run",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("Runs: 3 (3 points, 1 curves)"));
    plot(&dir)
        .args([
            "--var-x",
            "max_concurrency",
            "--bin-by",
            "max_concurrency%10",
        ])
        .args(["--scale-x", "sqrt", "--scale-y", "log", "--dry-run"])
        .assert()
        .success()
        // 1 and 4 fall in bin 0, 16 in bin 10: two points of 6 and 5 runs.
        .stdout(predicate::str::contains("Runs: 11 (2 points, 1 curves)"));
    plot(&dir)
        .args([
            "--var-x",
            "max_concurrency",
            "--scale-x",
            "log",
            "--fig-height",
            "3",
        ])
        .assert()
        .success();
    assert!(png_size(&dir.join("FIGURE.png")).1 < 500);
}

#[test]
fn a_missing_variable_lists_the_available_ones() {
    let (_t, dir) = copy_of("vllm");
    plot(&dir)
        .args(["--var-x", "nope"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "error: cannot find var_x='nope' in the parameter sweep results. Available variables: date,",
        ))
        .stderr(predicate::str::contains("request_throughput"))
        .stderr(predicate::str::contains("max_num_seqs"));
    plot(&dir)
        .args(["--curve-by", "tp"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("cannot find curve_by='tp'"));
    plot(&dir)
        .args(["--filter-by", "tp==1"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("cannot find filter_by='tp'"));
    plot(&dir)
        .args(["--var-y", "backend"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("var_y='backend' must be a number"))
        .stderr(predicate::str::contains("openai"));
}

#[test]
fn an_empty_result_after_filtering_says_so() {
    let (_t, dir) = copy_of("vllm");
    plot(&dir)
        .args(["--filter-by", "max_concurrency>1000"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "no runs left to plot after --filter-by max_concurrency>1000 (12 runs before filtering)",
        ));
    assert!(files_in(&dir, ".png").is_empty());
    // Runs are left, but none can be drawn on a log axis.
    plot(&dir)
        .args(["--var-x", "rtfx", "--scale-x", "log"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "nothing to draw: none of the 12 runs has a finite numeric rtfx and p99_e2el_ms inside the axis scales",
        ));
}

#[test]
fn bad_flags_are_errors() {
    let (_t, dir) = copy_of("vllm");
    plot(&dir)
        .args(["--filter-by", "max_concurrency<abc"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "--filter-by 'max_concurrency<abc'",
        ));
    plot(&dir)
        .args(["--bin-by", "request_throughput"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("VAR%SIZE"));
    plot(&dir)
        .args(["--scale-x", "symlog"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("linear, log, sqrt"));
    plot(&dir)
        .args(["--fig-dpi", "5000"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--fig-dpi"));
    let empty = tempfile::tempdir().unwrap();
    plot(empty.path())
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "did not find any parameter sweep results",
        ));
    plot(&empty.path().join("missing"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("is not a folder"));
}

#[test]
fn vllm_flag_spelling_with_underscores() {
    let (_t, dir) = copy_of("vllm");
    plot(&dir)
        .args([
            "--var_y",
            "p99_ttft_ms",
            "--curve_by",
            "max_num_seqs",
            "--dry_run",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("2 curves"));
}
