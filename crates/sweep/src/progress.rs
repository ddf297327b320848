//! What the user sees while a sweep runs: a progress bar over all runs (elapsed, ETA, the
//! current combination) on a terminal, plain log lines otherwise, and a table of results
//! at the end.

use std::time::Duration;

use comfy_table::{Cell, CellAlignment, Table, presets::UTF8_FULL_CONDENSED};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

use llmsweep_core::record::{Record, as_number};

/// The sweep's terminal output.
#[derive(Debug)]
pub struct Ui {
    bar: ProgressBar,
}

impl Ui {
    /// A progress bar over `total_runs` runs (hidden when stderr is not a terminal).
    pub fn new(total_runs: u64) -> Self {
        let bar = ProgressBar::with_draw_target(Some(total_runs), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner:.green} [{elapsed_precise}] {bar:20.cyan/blue} {pos}/{len} runs · ETA {eta} · {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("█▉▊▋▌▍▎▏ "),
        );
        if !bar.is_hidden() {
            bar.enable_steady_tick(Duration::from_millis(200));
        }
        Self { bar }
    }

    /// A spinner counting runs, for sweeps whose number of runs is not known in advance.
    pub fn new_unbounded() -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner:.green} [{elapsed_precise}] {pos} runs · {wide_msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        if !bar.is_hidden() {
            bar.enable_steady_tick(Duration::from_millis(200));
        }
        Self { bar }
    }

    /// A UI that draws no bar (dry runs).
    pub fn hidden() -> Self {
        Self {
            bar: ProgressBar::hidden(),
        }
    }

    /// Print a log line above the bar (or plainly, without one); control characters from
    /// names are escaped, and a closed stderr stops the sweep (see [`crate::console`]).
    pub fn line(&self, text: &str) {
        if self.bar.is_hidden() {
            crate::console::line(text);
        } else {
            self.bar.println(crate::console::escape_keep_lines(text));
        }
    }

    /// Show what is running now, shortened in the middle to what the terminal leaves
    /// beside the bar (names of one server's combinations differ at their end).
    pub fn set_message(&self, text: &str) {
        let text = crate::console::escape(text);
        // No size from the terminal (some pseudo-terminals report 0 rows): the 80 columns
        // the bar itself assumes then.
        let width = terminal_width().or_else(|| (!self.bar.is_hidden()).then_some(80));
        let room = match width {
            Some(width) => {
                let len = self.bar.length().unwrap_or(0).max(self.bar.position());
                message_room(width, len)
            }
            None => usize::MAX,
        };
        self.bar
            .set_message(crate::console::shorten_middle(&text, room));
    }

    /// Count one run as done.
    pub fn run_done(&self) {
        self.bar.inc(1);
    }

    /// Remove the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// The width of the terminal on stderr, if it is one.
fn terminal_width() -> Option<usize> {
    #[cfg(unix)]
    {
        let mut ws = nix::libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCGWINSZ fills the winsize it is given; fd 2 is only read.
        let ok = unsafe { nix::libc::ioctl(2, nix::libc::TIOCGWINSZ, &mut ws) } == 0;
        // As the bar's own terminal library reads it: both sizes or none.
        (ok && ws.ws_col > 0 && ws.ws_row > 0).then_some(usize::from(ws.ws_col))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// How many characters the bar's template leaves for its message on a terminal `width`
/// wide, with `total` runs: "⠋ [00:00:00] <20> 12/345 runs · ETA 10m · " is the rest.
fn message_room(width: usize, total: u64) -> usize {
    let digits = total.max(1).to_string().len();
    // spinner, space, [elapsed], space, bar, space, pos/len, " runs · ETA ", eta (≤ 4),
    // " · ", and a column terminals keep free.
    let fixed = 1 + 1 + 10 + 1 + 20 + 1 + (2 * digits + 1) + 12 + 4 + 3 + 1;
    width.saturating_sub(fixed).max(12)
}

/// The metrics of the final table: (header, result key, decimals).
const COLUMNS: &[(&str, &str, usize)] = &[
    ("req/s", "request_throughput", 2),
    ("out tok/s", "output_throughput", 0),
    ("p99 TTFT ms", "p99_ttft_ms", 1),
    ("p99 TPOT ms", "p99_tpot_ms", 2),
    ("p99 ITL ms", "p99_itl_ms", 2),
    ("p99 E2EL ms", "p99_e2el_ms", 0),
];

/// One row of the final table.
#[derive(Debug, Clone)]
pub struct TableRow {
    /// The combination's name.
    pub name: String,
    /// Its successful runs.
    pub records: Vec<Record>,
    /// Its failed runs.
    pub failed_runs: usize,
}

/// The final table: per combination, the mean over its runs of throughput and p99
/// latencies, failed requests, and runs ok/failed.
pub fn results_table(rows: &[TableRow]) -> String {
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED);
    let mut header = vec![Cell::new("combination"), Cell::new("runs")];
    header.extend(COLUMNS.iter().map(|(h, _, _)| Cell::new(h)));
    header.push(Cell::new("failed req"));
    table.set_header(header);
    for row in rows {
        let runs = if row.failed_runs > 0 {
            format!("{} ok, {} failed", row.records.len(), row.failed_runs)
        } else {
            row.records.len().to_string()
        };
        let mut cells = vec![
            Cell::new(crate::console::escape(&row.name)),
            Cell::new(runs),
        ];
        for (_, key, decimals) in COLUMNS {
            let text = mean(&row.records, key)
                .map(|v| format!("{v:.decimals$}"))
                .unwrap_or_else(|| "-".into());
            cells.push(Cell::new(text).set_alignment(CellAlignment::Right));
        }
        // No successful run: nothing is known about failed requests ("-", not a sum of
        // nothing, which Rust's f64 sum makes -0).
        let failed = if row.records.is_empty() {
            "-".to_string()
        } else {
            let sum = row
                .records
                .iter()
                .filter_map(|r| r.get("failed").and_then(as_number))
                .fold(0.0, |a, b| a + b);
            format!("{sum:.0}")
        };
        cells.push(Cell::new(failed).set_alignment(CellAlignment::Right));
        table.add_row(cells);
    }
    table.to_string()
}

/// The mean of a numeric key over records that have it.
pub fn mean(records: &[Record], key: &str) -> Option<f64> {
    let vals: Vec<f64> = records
        .iter()
        .filter_map(|r| r.get(key).and_then(as_number))
        .filter(|v| v.is_finite())
        .collect();
    if vals.is_empty() {
        None
    } else {
        Some(vals.iter().sum::<f64>() / vals.len() as f64)
    }
}

/// A value for display.
pub fn show(v: &Value) -> String {
    llmsweep_core::pyfmt::py_str(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_shows_means() {
        let r = |t: f64| {
            json!({"request_throughput": t, "p99_ttft_ms": 10.0, "failed": 1})
                .as_object()
                .unwrap()
                .clone()
        };
        let t = results_table(&[TableRow {
            name: "SERVE--a=1".into(),
            records: vec![r(1.0), r(2.0)],
            failed_runs: 1,
        }]);
        assert!(
            t.contains("SERVE--a=1")
                && t.contains("1.50")
                && t.contains("10.0")
                && t.contains("2 ok, 1 failed"),
            "{t}"
        );
        assert!(t.contains(" - "), "missing metrics show as '-': {t}");
    }

    #[test]
    fn a_combination_without_successful_runs_shows_no_negative_zero() {
        let t = results_table(&[TableRow {
            name: "BENCH--x=1".into(),
            records: vec![],
            failed_runs: 2,
        }]);
        assert!(!t.contains("-0"), "{t}");
        assert!(t.contains("0 ok, 2 failed"), "{t}");
        let row = t.lines().find(|l| l.contains("BENCH--x=1")).unwrap();
        assert!(
            row.trim_end()
                .trim_end_matches('│')
                .trim_end()
                .ends_with('-'),
            "{row}"
        );
    }

    #[test]
    fn names_are_escaped_in_the_table() {
        let t = results_table(&[TableRow {
            name: "evil\u{1b}[2Jname".into(),
            records: vec![],
            failed_runs: 0,
        }]);
        assert!(!t.contains('\u{1b}') && t.contains("evil\\e[2Jname"), "{t}");
    }

    #[test]
    fn the_message_gets_what_the_bar_leaves() {
        assert_eq!(message_room(80, 8), 80 - 57);
        assert_eq!(message_room(200, 1000), 200 - 63);
        assert_eq!(message_room(40, 8), 12);
    }
}
