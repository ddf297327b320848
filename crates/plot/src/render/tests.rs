//! Layout checks on a recording canvas (texts inside the picture and apart) and a
//! round trip through the PNG and SVG exporters.

use serde_json::json;
use std::path::Path;

use super::canvas::{DrawnText, RecordingCanvas};
use super::*;
use crate::figure::{CurveSpec, build_figure};
use crate::pareto::{ParetoSpec, build_pareto};
use crate::table::{GroupKey, Run, Table};

fn sweep_runs() -> Vec<Run> {
    let mut runs = Vec::new();
    for seqs in [8, 32, 128] {
        for tp in [1, 2] {
            for conc in [1, 4, 16, 64] {
                for run in 0..3 {
                    let tput = conc as f64 * 3.0 * (1.0 + tp as f64 * 0.3)
                        / (1.0 + conc as f64 / seqs as f64)
                        * (1.0 + run as f64 * 0.01);
                    let rec = json!({
                        "max_num_seqs": seqs, "tensor_parallel_size": tp, "max_concurrency": conc,
                        "run_number": run, "request_throughput": tput,
                        "output_throughput": tput * 128.0,
                        "p99_e2el_ms": 800.0 + conc as f64 * 40.0 / tp as f64 + run as f64 * 25.0,
                    });
                    runs.push(Run {
                        record: rec.as_object().unwrap().clone(),
                        file: 0,
                    });
                }
            }
        }
    }
    runs
}

fn overlapping(texts: &[DrawnText]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, a) in texts.iter().enumerate() {
        for b in &texts[i + 1..] {
            let (l, t, r, bt) = (
                a.bounds.0.max(b.bounds.0),
                a.bounds.1.max(b.bounds.1),
                a.bounds.2.min(b.bounds.2),
                a.bounds.3.min(b.bounds.3),
            );
            if r - l > 0.5 && bt - t > 0.5 {
                out.push((a.text.clone(), b.text.clone()));
            }
        }
    }
    out
}

fn record(chart: Chart<'_>, size: &FigureSize) -> RecordingCanvas {
    ensure_fonts().unwrap();
    // To look at what a test lays out: LLMSWEEP_PLOT_PREVIEW=/some/dir cargo test
    if let Some(dir) = std::env::var_os("LLMSWEEP_PLOT_PREVIEW") {
        let name = match chart {
            Chart::Curves(f) => format!("curves-{}-{}.png", f.legend.len(), size.dpi),
            Chart::Pareto(p) => format!("pareto-{}.png", p.points.len()),
        };
        let bytes = render(chart, size, ImageFormat::Png).unwrap();
        std::fs::write(Path::new(&dir).join(name), bytes).unwrap();
    }
    let prepared = Prepared::new(chart, size);
    let (w, h) = prepared.size();
    let mut canvas = RecordingCanvas {
        size: (f64::from(w), f64::from(h)),
        ..Default::default()
    };
    prepared.draw(&mut canvas);
    canvas
}

fn assert_readable(canvas: &RecordingCanvas) {
    let (w, h) = canvas.size;
    for t in &canvas.texts {
        let (l, top, r, b) = t.bounds;
        assert!(
            l >= 0.0 && top >= 0.0 && r <= w && b <= h,
            "{t:?} outside {w}x{h}"
        );
    }
    let o = overlapping(&canvas.texts);
    assert!(o.is_empty(), "overlapping texts: {o:?}");
}

#[test]
fn facet_grid_texts_stay_apart_and_inside() {
    let mut spec = CurveSpec::new("request_throughput", "p99_e2el_ms");
    spec.curve_by = vec!["max_num_seqs".into()];
    spec.col_by = vec!["tensor_parallel_size".into()];
    let fig = build_figure(
        &spec,
        GroupKey(vec![("model".into(), "m".into())]),
        &sweep_runs(),
    );
    for size in [
        FigureSize::default(),
        FigureSize {
            height_in: 3.0,
            dpi: 150.0,
        },
    ] {
        let c = record(Chart::Curves(&fig), &size);
        assert_readable(&c);
        let texts: Vec<&str> = c.texts.iter().map(|t| t.text.as_str()).collect();
        for want in [
            "P99 E2E latency (ms) vs request throughput (req/s)",
            "model=m",
            "tensor_parallel_size=1",
            "tensor_parallel_size=2",
            "Request throughput (req/s)",
            "P99 E2E latency (ms)",
            "max_num_seqs",
            "8",
            "128",
        ] {
            assert!(texts.contains(&want), "missing {want:?} in {texts:?}");
        }
    }
}

#[test]
fn long_legends_grow_the_figure() {
    let mut spec = CurveSpec::new("request_throughput", "p99_e2el_ms");
    spec.curve_by = vec![
        "max_num_seqs".into(),
        "tensor_parallel_size".into(),
        "max_concurrency".into(),
    ];
    let fig = build_figure(&spec, GroupKey::default(), &sweep_runs());
    assert_eq!(fig.legend.len(), 24);
    let c = record(
        Chart::Curves(&fig),
        &FigureSize {
            height_in: 3.0,
            dpi: 100.0,
        },
    );
    assert_readable(&c);
    // The title names every variable (each entry has a value for each): wrapped at its
    // commas, never cut short.
    let title_lines: Vec<&str> = c
        .texts
        .iter()
        .map(|t| t.text.as_str())
        .filter(|t| t.contains("max_") || t.contains("tensor_"))
        .collect();
    assert!(
        title_lines.len() >= 2,
        "the long title wraps: {title_lines:?}"
    );
    let title: String = c
        .texts
        .iter()
        .filter(|t| {
            t.text.starts_with("max_num_seqs,")
                || t.text.starts_with("tensor_parallel_size,")
                || t.text == "max_concurrency"
        })
        .map(|t| t.text.clone())
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(title, "max_num_seqs, tensor_parallel_size, max_concurrency");
    assert!(!c.texts.iter().any(|t| t.text.contains('…')));
}

#[test]
fn pareto_labels_stay_apart_and_inside() {
    let recs = sweep_runs().into_iter().map(|r| r.record).collect();
    let table = Table::from_records(recs, Path::new("x/summary.json"));
    let spec = ParetoSpec {
        label_by: vec![
            "max_concurrency".into(),
            "gpu_count".into(),
            "max_num_seqs".into(),
        ],
        ..ParetoSpec::default()
    };
    let chart = build_pareto(&table, &spec).unwrap();
    assert!(chart.frontier.len() >= 3);
    let c = record(Chart::Pareto(&chart), &FigureSize::default());
    assert_readable(&c);
    let labels = c
        .texts
        .iter()
        .filter(|t| t.text.starts_with("max_concurrency="))
        .count();
    assert_eq!(labels, chart.frontier.len());
    assert!(c.texts.iter().any(|t| t.text == "gpu_count=2"));
}

#[test]
fn png_and_svg_files_decode() {
    let mut spec = CurveSpec::new("request_throughput", "p99_e2el_ms");
    spec.curve_by = vec!["max_num_seqs".into()];
    let fig = build_figure(&spec, GroupKey::default(), &sweep_runs());
    let size = FigureSize {
        height_in: 2.5,
        dpi: 100.0,
    };
    let png_bytes = render(Chart::Curves(&fig), &size, ImageFormat::Png).unwrap();
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let reader = decoder.read_info().unwrap();
    let info = reader.info();
    let expected = Prepared::new(Chart::Curves(&fig), &size).size();
    assert_eq!((info.width, info.height), expected);
    let svg =
        String::from_utf8(render(Chart::Curves(&fig), &size, ImageFormat::Svg).unwrap()).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
    assert!(svg.contains("P99 E2E latency (ms)"));
    assert!(svg.contains("max_num_seqs"));
}
