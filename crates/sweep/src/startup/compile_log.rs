//! Compilation and CUDA-graph capture times read from a server's log, as vLLM (and
//! `llmsweep sim`) print them:
//!
//! ```text
//! (EngineCore_DP0 pid=269) INFO 10-14 22:48:36 [backends.py:559] Dynamo bytecode transform time: 5.80 s
//! (EngineCore_DP0 pid=269) INFO 10-14 22:49:05 [backends.py:218] Compiling a graph for dynamic shape takes 28.96 s
//! (EngineCore_DP0 pid=269) INFO 10-14 22:49:17 [monitor.py:34] torch.compile takes 34.76 s in total
//! (EngineCore_DP0 pid=269) INFO 10-14 22:49:40 [gpu_model_runner.py:3480] Graph capturing finished in 8 secs, took 0.31 GiB
//! ```
//!
//! The compilation time is what vLLM's `vllm bench startup` reports as `compilation_time`
//! (`compilation_config.compilation_time`), which vLLM logs as `torch.compile takes|took X s
//! in total`. With several workers (tensor parallelism) each logs its own line; the
//! slowest counts, since start-up waits for it. Without a total line, the pieces
//! (Dynamo transform, graph compilations, graphs loaded from the cache) are summed per
//! process, and the slowest process counts. No line at all: `None`.

use std::collections::BTreeMap;

/// What a server's log says about one start-up.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CompileTimes {
    /// torch.compile time, seconds.
    pub compilation_s: Option<f64>,
    /// CUDA graph capture time, seconds.
    pub graph_capture_s: Option<f64>,
}

/// Read a server's log (the whole text of one start-up).
pub fn parse_server_log(log: &str) -> CompileTimes {
    let mut total: Option<f64> = None;
    let mut pieces: BTreeMap<String, f64> = BTreeMap::new();
    let mut capture: Option<f64> = None;
    for raw in log.lines() {
        let line = strip_ansi(raw);
        if let Some(s) = compile_total(&line) {
            total = Some(total.map_or(s, |t| t.max(s)));
        } else if let Some(s) = compile_piece(&line) {
            *pieces.entry(process_tag(&line)).or_default() += s;
        } else if let Some(s) = graph_capture(&line) {
            capture = Some(capture.map_or(s, |c| c.max(s)));
        }
    }
    let from_pieces = pieces.values().copied().reduce(f64::max);
    CompileTimes {
        compilation_s: total.or(from_pieces),
        graph_capture_s: capture,
    }
}

/// `torch.compile takes 34.76 s in total`, `torch.compile took 48.00 s in total`,
/// `torch.compile and initial profiling/warmup run together took 34.69 s in total`.
fn compile_total(line: &str) -> Option<f64> {
    let at = line.find("torch.compile ")?;
    let rest = &line[at..];
    let end = rest.find(" s in total")?;
    last_number(&rest[..end])
}

/// `Dynamo bytecode transform time: 5.80 s`, `Compiling a graph for … takes 28.96 s`,
/// `Directly load the compiled graph(s) for … from the cache, took 0.312 s`.
fn compile_piece(line: &str) -> Option<f64> {
    let marker = [
        "Dynamo bytecode transform time:",
        "Compiling a graph for ",
        "Directly load the compiled graph",
    ]
    .into_iter()
    .find_map(|m| line.find(m).map(|i| &line[i..]))?;
    let end = marker.rfind(" s")?;
    last_number(&marker[..end])
}

/// `Graph capturing finished in 8 secs, took 0.31 GiB` (older: `… in 2 secs.`).
fn graph_capture(line: &str) -> Option<f64> {
    let at = line.find("Graph capturing finished in ")?;
    let rest = &line[at + "Graph capturing finished in ".len()..];
    let end = rest.find(" sec")?;
    rest[..end].trim().parse().ok()
}

/// The number at the end of `text` (after its last space).
fn last_number(text: &str) -> Option<f64> {
    let word = text.trim_end().rsplit(' ').next()?;
    let value: f64 = word.parse().ok()?;
    value.is_finite().then_some(value)
}

/// vLLM prefixes a worker's lines with `(EngineCore_DP0 pid=269)` or
/// `(VllmWorker TP1 pid=…)`; lines without a prefix belong to the main process.
fn process_tag(line: &str) -> String {
    let line = line.trim_start();
    if line.starts_with('(')
        && let Some(end) = line.find(')')
        && line[..end].contains("pid=")
    {
        return line[1..end].to_string();
    }
    String::new()
}

/// The line without terminal colour codes (`ESC [ … letter`).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const VLLM_TP2: &str = "\
INFO 10-14 22:48:20 [api_server.py:1839] vLLM API server version 0.11.0
\u{1b}[1;36m(VllmWorker TP0 pid=301)\u{1b}[0;0m INFO 10-14 22:48:36 [backends.py:559] Dynamo bytecode transform time: 5.80 s
(VllmWorker TP1 pid=302) INFO 10-14 22:48:36 [backends.py:559] Dynamo bytecode transform time: 5.91 s
(VllmWorker TP0 pid=301) INFO 10-14 22:49:05 [backends.py:218] Compiling a graph for dynamic shape takes 28.96 s
(VllmWorker TP1 pid=302) INFO 10-14 22:49:05 [backends.py:218] Compiling a graph for dynamic shape takes 29.01 s
(VllmWorker TP0 pid=301) INFO 10-14 22:49:17 [monitor.py:34] torch.compile takes 34.76 s in total
(VllmWorker TP1 pid=302) INFO 10-14 22:49:17 [monitor.py:34] torch.compile takes 34.92 s in total
Capturing CUDA graphs (mixed prefill-decode, PIECEWISE): 100%|██████████| 11/11
(VllmWorker TP0 pid=301) INFO 10-14 22:49:40 [gpu_model_runner.py:3480] Graph capturing finished in 8 secs, took 0.31 GiB
(VllmWorker TP1 pid=302) INFO 10-14 22:49:40 [gpu_model_runner.py:3480] Graph capturing finished in 9 secs, took 0.31 GiB
INFO:     Application startup complete.
";

    #[test]
    fn the_slowest_worker_counts() {
        assert_eq!(
            parse_server_log(VLLM_TP2),
            CompileTimes {
                compilation_s: Some(34.92),
                graph_capture_s: Some(9.0)
            }
        );
    }

    #[test]
    fn every_spelling_of_the_total() {
        for (line, want) in [
            (
                "INFO [monitor.py:34] torch.compile takes 12.34 s in total",
                12.34,
            ),
            (
                "INFO [monitor.py:53] torch.compile took 264.63 s in total",
                264.63,
            ),
            (
                "(EngineCore pid=8878) INFO 07-22 04:31:51 [monitor.py:48] torch.compile and initial profiling/warmup run together took 34.69 s in total",
                34.69,
            ),
            ("torch.compile takes 40.12 s in total", 40.12),
        ] {
            assert_eq!(parse_server_log(line).compilation_s, Some(want), "{line}");
        }
    }

    #[test]
    fn without_a_total_the_pieces_are_summed_per_process() {
        let log = "\
(EngineCore_DP0 pid=1) INFO [backends.py:1048] Dynamo bytecode transform time: 9.48 s
(EngineCore_DP0 pid=1) INFO [backends.py:387] Compiling a graph for compile range (1, 16384) takes 20.50 s
(EngineCore_DP1 pid=2) INFO [backends.py:1048] Dynamo bytecode transform time: 1.00 s
(EngineCore_DP1 pid=2) INFO [backends.py:161] Directly load the compiled graph(s) for dynamic shape from the cache, took 0.312 s
";
        let got = parse_server_log(log).compilation_s.unwrap();
        assert!((got - 29.98).abs() < 1e-9, "{got}");
    }

    #[test]
    fn older_graph_capture_lines_and_nothing_at_all() {
        let log = "INFO 11-03 15:47:45 [model_runner.py:1671] Graph capturing finished in 2 secs.";
        assert_eq!(
            parse_server_log(log),
            CompileTimes {
                compilation_s: None,
                graph_capture_s: Some(2.0)
            }
        );
        assert_eq!(
            parse_server_log("INFO: Started server process\nnothing about compiling\n"),
            CompileTimes::default()
        );
        // Words that look alike but carry no number are not times.
        assert_eq!(
            parse_server_log("torch.compile takes forever s in total").compilation_s,
            None
        );
    }
}
