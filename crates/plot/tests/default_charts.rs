//! `draw_default_charts` and `write_report`, the library calls a sweep makes when it ends.

use std::path::{Path, PathBuf};

use llmsweep_plot::defaults::draw_default_charts;
use llmsweep_plot::report::write_report;

fn copy_of(name: &str) -> (tempfile::TempDir, PathBuf) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let tmp = tempfile::tempdir().unwrap();
    let dst = tmp.path().join(name);
    copy_dir(&src, &dst);
    (tmp, dst)
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).unwrap();
        }
    }
}

fn names(dir: &Path, files: &[PathBuf]) -> Vec<String> {
    files
        .iter()
        .map(|f| f.strip_prefix(dir).unwrap().display().to_string())
        .collect()
}

#[test]
fn a_serve_sweep_gets_curves_and_a_pareto_chart() {
    let (_t, dir) = copy_of("llmsweep-serve");
    let charts = draw_default_charts(&dir).unwrap();
    assert_eq!(
        names(&dir, &charts.files),
        [
            "plots/p99_e2el_ms-vs-request_throughput.png",
            "plots/p99_ttft_ms-vs-request_throughput.png",
            "plots/p99_tpot_ms-vs-request_throughput.png",
            "pareto/PARETO.png",
            "pareto/PARETO.svg",
        ]
    );
    assert!(charts.notes.is_empty(), "{:?}", charts.notes);
    for f in &charts.files {
        assert!(
            std::fs::metadata(f).unwrap().len() > 1000,
            "{}",
            f.display()
        );
    }
    let report = write_report(&dir).unwrap();
    assert_eq!(report, dir.join("report.html"));
}

#[test]
fn a_startup_sweep_gets_notes_instead_of_charts() {
    let (_t, dir) = copy_of("llmsweep-startup");
    let charts = draw_default_charts(&dir).unwrap();
    assert!(charts.files.is_empty());
    assert_eq!(charts.notes.len(), 2, "{:?}", charts.notes);
    assert!(charts.notes[0].contains("no curves drawn"));
    assert!(charts.notes[1].contains("no Pareto chart"));
}

#[test]
fn an_empty_folder_is_not_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let charts = draw_default_charts(tmp.path()).unwrap();
    assert!(charts.files.is_empty());
    assert!(charts.notes[0].contains("no successful runs"));
}
