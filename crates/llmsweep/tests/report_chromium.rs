//! Open report.html in headless Chromium (Debian's `chromium`) with no network: the page
//! must load with no console output and every chart must be drawn. Skipped, with a note,
//! when chromium is not installed. The same check by hand: bench/plot/check_report.sh.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command as Process;

use assert_cmd::Command;

use common::{copy_dir, fixture};

fn chromium() -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join("chromium"))
        .find(|p| p.is_file())
}

/// Load the page; return (DOM after scripts, console lines).
fn load(browser: &Path, page: &Path, profile: &Path) -> (String, Vec<String>) {
    let out = Process::new("timeout")
        .arg("120")
        .arg(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1400,2000",
            "--virtual-time-budget=10000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let console = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    (String::from_utf8_lossy(&out.stdout).into_owned(), console)
}

#[test]
fn reports_load_without_console_errors_and_draw_every_chart() {
    let Some(browser) = chromium() else {
        eprintln!(
            "NOTE: chromium is not installed; skipping the headless-browser check of report.html (apt-get install chromium)"
        );
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    for (name, charts) in [("llmsweep-serve", 4), ("llmsweep-startup", 1)] {
        let dir = tmp.path().join(name);
        copy_dir(&fixture(name), &dir);
        Command::cargo_bin("llmsweep")
            .unwrap()
            .arg("report")
            .arg(&dir)
            .assert()
            .success();
        let (dom, console) = load(
            &browser,
            &dir.join("report.html"),
            &tmp.path().join("profile"),
        );
        assert!(console.is_empty(), "{name}: console output: {console:#?}");
        assert_eq!(
            dom.matches("class=\"chart\"").count(),
            charts,
            "{name}: chart containers"
        );
        assert_eq!(
            dom.matches("data-drawn=\"1\"").count(),
            charts,
            "{name}: every chart drawn"
        );
        assert!(
            dom.matches("<canvas").count() >= charts,
            "{name}: ECharts drew its canvases"
        );
        if name == "llmsweep-serve" {
            // The legend entries are values; the variables they belong to are named above.
            assert!(
                dom.contains("data-titles=\"max_num_seqs"),
                "{name}: the legend title is drawn"
            );
        }
    }
}
