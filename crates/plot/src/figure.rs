//! The chart model of `llmsweep plot`: runs → figures (one per `--fig-by` group) → a grid
//! of panels (`--row-by` × `--col-by`) → curves (`--curve-by`) of points, each the mean of
//! the runs at one x with its 95% confidence interval. Pure: no drawing, no files.

use serde::Serialize;

use crate::filter::{Binner, Filter};
use crate::scale::Scale;
use crate::stats::{Estimate, aggregate_by_x};
use crate::table::{GroupKey, Run, group_rows, group_rows_sorted, number};
use crate::units::axis_title;

/// What to draw, independent of where it goes.
#[derive(Debug, Clone)]
pub struct CurveSpec {
    /// The x variable.
    pub var_x: String,
    /// The y variable.
    pub var_y: String,
    /// One figure per value combination of these.
    pub fig_by: Vec<String>,
    /// Grid rows.
    pub row_by: Vec<String>,
    /// Grid columns.
    pub col_by: Vec<String>,
    /// One curve per value combination of these.
    pub curve_by: Vec<String>,
    /// Runs must pass every filter.
    pub filters: Vec<Filter>,
    /// Values rounded down to bins before plotting.
    pub binners: Vec<Binner>,
    /// x axis scale.
    pub scale_x: Scale,
    /// y axis scale.
    pub scale_y: Scale,
    /// Draw the 95% confidence band of repeated runs.
    pub error_bars: bool,
}

impl CurveSpec {
    /// vLLM's defaults: request throughput against P99 end-to-end latency, one figure, one
    /// panel, one curve.
    pub fn new(var_x: &str, var_y: &str) -> Self {
        CurveSpec {
            var_x: var_x.to_string(),
            var_y: var_y.to_string(),
            fig_by: Vec::new(),
            row_by: Vec::new(),
            col_by: Vec::new(),
            curve_by: Vec::new(),
            filters: Vec::new(),
            binners: Vec::new(),
            scale_x: Scale::Linear,
            scale_y: Scale::Linear,
            error_bars: true,
        }
    }

    /// Every variable the spec names, with the role that names it (for "cannot find"
    /// errors), in the order vLLM checks them.
    pub fn named_variables(&self) -> Vec<(String, String)> {
        let mut out = vec![
            ("var_x".to_string(), self.var_x.clone()),
            ("var_y".to_string(), self.var_y.clone()),
        ];
        for (role, vars) in [
            ("fig_by", &self.fig_by),
            ("row_by", &self.row_by),
            ("col_by", &self.col_by),
            ("curve_by", &self.curve_by),
        ] {
            out.extend(vars.iter().map(|v| (role.to_string(), v.clone())));
        }
        out.extend(
            self.filters
                .iter()
                .map(|f| ("filter_by".to_string(), f.var.clone())),
        );
        out.extend(
            self.binners
                .iter()
                .map(|b| ("bin_by".to_string(), b.var.clone())),
        );
        out
    }
}

/// One axis of a figure.
#[derive(Debug, Clone, Serialize)]
pub struct Axis {
    /// The variable.
    pub var: String,
    /// Its title with unit.
    pub title: String,
    /// The scale.
    pub scale: Scale,
    /// Smallest value shown (data units, bands included); NaN when nothing is shown.
    pub min: f64,
    /// Largest value shown.
    pub max: f64,
}

impl Axis {
    /// An axis for `var`, titled with its unit, showing `min` to `max`.
    pub fn new(var: &str, scale: Scale, min: f64, max: f64) -> Self {
        Axis {
            var: var.to_string(),
            title: axis_title(var),
            scale,
            min,
            max,
        }
    }
}

/// One point of a curve: the mean y of the runs at this x.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CurvePoint {
    /// x.
    pub x: f64,
    /// Mean y and its interval.
    #[serde(flatten)]
    pub y: Estimate,
}

/// One curve in a panel.
#[derive(Debug, Clone, Serialize)]
pub struct Curve {
    /// Index into [`Figure::legend`]: the same curve has the same colour in every panel.
    pub style: usize,
    /// Its points, by x.
    pub points: Vec<CurvePoint>,
}

/// One cell of the grid.
#[derive(Debug, Clone, Serialize)]
pub struct Panel {
    /// `row k=v, col k=v`; empty without --row-by/--col-by.
    pub title: String,
    /// Its curves (only those with points).
    pub curves: Vec<Curve>,
}

/// One figure: a grid of panels sharing axes and a legend.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// The `--fig-by` values of this figure.
    #[serde(skip)]
    pub group: GroupKey,
    /// Main title.
    pub title: String,
    /// The figure group, `k=v, …` (empty without --fig-by).
    pub subtitle: String,
    /// x axis.
    pub x: Axis,
    /// y axis.
    pub y: Axis,
    /// Grid rows.
    pub rows: usize,
    /// Grid columns.
    pub cols: usize,
    /// `rows × cols` panels, row by row.
    pub panels: Vec<Panel>,
    /// The `--curve-by` names, the legend's title.
    pub legend_title: String,
    /// One entry per curve style.
    pub legend: Vec<String>,
    /// Runs in the figure after filtering.
    pub runs: usize,
    /// Runs left out because x or y is missing, not a finite number, or off the scale.
    pub skipped: usize,
    /// A note under the chart saying what points and bands mean.
    pub note: String,
}

impl Figure {
    /// Has the figure anything to draw?
    pub fn is_empty(&self) -> bool {
        self.panels.iter().all(|p| p.curves.is_empty())
    }
}

/// Build one figure from its runs (already filtered and binned).
pub fn build_figure(spec: &CurveSpec, group: GroupKey, runs: &[Run]) -> Figure {
    let all: Vec<usize> = (0..runs.len()).collect();
    let row_groups = group_rows_sorted(runs, &all, &spec.row_by);
    let col_keys: Vec<GroupKey> = group_rows_sorted(runs, &all, &spec.col_by)
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let curve_keys: Vec<GroupKey> = group_rows_sorted(runs, &all, &spec.curve_by)
        .into_iter()
        .map(|(k, _)| k)
        .collect();

    let mut skipped = 0;
    let mut panels = Vec::new();
    let mut any_band = false;
    for (row_key, row_rows) in &row_groups {
        let by_col = group_rows(runs, row_rows, &spec.col_by);
        for col_key in &col_keys {
            let cell: &[usize] = by_col
                .iter()
                .find(|(k, _)| k == col_key)
                .map(|(_, r)| r.as_slice())
                .unwrap_or(&[]);
            let mut curves = Vec::new();
            for (curve_key, curve_rows) in group_rows(runs, cell, &spec.curve_by) {
                let mut pts = Vec::with_capacity(curve_rows.len());
                for i in curve_rows {
                    let rec = &runs[i].record;
                    let xy = number(rec, &spec.var_x)
                        .zip(number(rec, &spec.var_y))
                        .filter(|(x, y)| {
                            spec.scale_x.forward(*x).is_some() && spec.scale_y.forward(*y).is_some()
                        });
                    match xy {
                        Some(p) => pts.push(p),
                        None => skipped += 1,
                    }
                }
                if pts.is_empty() {
                    continue;
                }
                let points: Vec<CurvePoint> = aggregate_by_x(&pts, spec.error_bars)
                    .into_iter()
                    .map(|(x, y)| CurvePoint { x, y })
                    .collect();
                any_band |= points.iter().any(|p| p.y.hi > p.y.lo);
                let style = curve_keys.iter().position(|k| *k == curve_key).unwrap_or(0);
                curves.push(Curve { style, points });
            }
            curves.sort_by_key(|c| c.style);
            let mut parts = row_key.parts();
            parts.extend(col_key.parts());
            panels.push(Panel {
                title: parts.join(", "),
                curves,
            });
        }
    }

    let (x_min, x_max, y_min, y_max) = extent(&panels);
    let x = Axis::new(&spec.var_x, spec.scale_x, x_min, x_max);
    let y = Axis::new(&spec.var_y, spec.scale_y, y_min, y_max);
    let mut notes = Vec::new();
    if any_band {
        notes.push("Points: mean of the runs at each x; band: 95% confidence interval".to_string());
    }
    if skipped > 0 {
        notes.push(format!(
            "{skipped} run{} left out: {} or {} missing, not finite{}",
            if skipped == 1 { "" } else { "s" },
            spec.var_x,
            spec.var_y,
            if spec.scale_x != Scale::Linear || spec.scale_y != Scale::Linear {
                ", or off the axis scale"
            } else {
                ""
            }
        ));
    }
    Figure {
        title: format!("{} vs {}", y.title, lower_first(&x.title)),
        subtitle: group.text(),
        group,
        x,
        y,
        rows: row_groups.len().max(1),
        cols: col_keys.len().max(1),
        panels,
        legend_title: spec.curve_by.join(", "),
        legend: if spec.curve_by.is_empty() {
            Vec::new()
        } else {
            curve_keys.iter().map(GroupKey::values_text).collect()
        },
        runs: runs.len(),
        skipped,
        note: notes.join(". "),
    }
}

fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        // Keep acronyms (TTFT, P99) as they are.
        Some(c) if chars.clone().next().is_some_and(|n| n.is_lowercase()) => {
            c.to_lowercase().chain(chars).collect()
        }
        _ => s.to_string(),
    }
}

fn extent(panels: &[Panel]) -> (f64, f64, f64, f64) {
    let (mut x0, mut x1, mut y0, mut y1) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    for p in panels
        .iter()
        .flat_map(|p| &p.curves)
        .flat_map(|c| &c.points)
    {
        x0 = x0.min(p.x);
        x1 = x1.max(p.x);
        y0 = y0.min(p.y.lo.min(p.y.mean));
        y1 = y1.max(p.y.hi.max(p.y.mean));
    }
    if x0 > x1 {
        return (f64::NAN, f64::NAN, f64::NAN, f64::NAN);
    }
    (x0, x1, y0, y1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn runs(v: Value) -> Vec<Run> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| Run {
                record: r.as_object().unwrap().clone(),
                file: 0,
            })
            .collect()
    }

    fn sweep() -> Vec<Run> {
        let mut rows = Vec::new();
        for seqs in [16, 4] {
            for conc in [1, 8] {
                for run in 0..2 {
                    rows.push(json!({
                        "max_num_seqs": seqs, "max_concurrency": conc, "run_number": run,
                        "request_throughput": conc as f64 * 1.5,
                        "p99_e2el_ms": 100.0 * conc as f64 / seqs as f64 + run as f64,
                        "tp": if conc == 1 { 1 } else { 2 },
                    }));
                }
            }
        }
        runs(Value::Array(rows))
    }

    #[test]
    fn one_panel_one_curve_by_default() {
        let spec = CurveSpec::new("request_throughput", "p99_e2el_ms");
        let f = build_figure(&spec, GroupKey::default(), &sweep());
        assert_eq!((f.rows, f.cols, f.panels.len()), (1, 1, 1));
        assert_eq!(f.panels[0].curves.len(), 1);
        let pts = &f.panels[0].curves[0].points;
        assert_eq!(pts.len(), 2);
        assert_eq!(pts[0].y.n, 4);
        assert!(f.legend.is_empty());
        assert_eq!(
            f.title,
            "P99 E2E latency (ms) vs request throughput (req/s)"
        );
        assert!(f.note.contains("95% confidence"));
    }

    #[test]
    fn curves_rows_and_columns() {
        let mut spec = CurveSpec::new("request_throughput", "p99_e2el_ms");
        spec.curve_by = vec!["max_num_seqs".into()];
        spec.col_by = vec!["tp".into()];
        let f = build_figure(&spec, GroupKey::default(), &sweep());
        assert_eq!((f.rows, f.cols), (1, 2));
        assert_eq!(f.legend, ["4", "16"]);
        assert_eq!(f.legend_title, "max_num_seqs");
        assert_eq!(f.panels[0].title, "tp=1");
        assert_eq!(f.panels[1].title, "tp=2");
        let c = &f.panels[0].curves;
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].style, c[1].style), (0, 1));
        // max_num_seqs=4 at concurrency 1: 25 and 26 ms → mean 25.5.
        assert_eq!(c[0].points[0].y.mean, 25.5);
        assert!(c[0].points[0].y.lo >= 25.0 && c[0].points[0].y.hi <= 26.0);
        assert_eq!(f.x.min, 1.5);
        assert_eq!(f.x.max, 12.0);
    }

    #[test]
    fn runs_off_the_scale_or_missing_are_counted() {
        let rs = runs(json!([
            {"x": 1, "y": 2}, {"x": 0, "y": 3}, {"x": "inf", "y": 1}, {"x": 2}, {"x": 3, "y": 4}
        ]));
        let mut spec = CurveSpec::new("x", "y");
        spec.scale_x = Scale::Log;
        let f = build_figure(&spec, GroupKey::default(), &rs);
        assert_eq!(f.skipped, 3);
        assert_eq!(f.panels[0].curves[0].points.len(), 2);
        assert!(f.note.contains("3 runs left out"), "{}", f.note);
        assert!(!f.note.contains("confidence"));
    }

    #[test]
    fn missing_grid_cells_are_empty_panels() {
        let rs = runs(json!([
            {"x": 1, "y": 2, "r": "a", "c": 1}, {"x": 1, "y": 2, "r": "b", "c": 2}
        ]));
        let mut spec = CurveSpec::new("x", "y");
        spec.row_by = vec!["r".into()];
        spec.col_by = vec!["c".into()];
        let f = build_figure(&spec, GroupKey::default(), &rs);
        assert_eq!((f.rows, f.cols), (2, 2));
        let filled: Vec<bool> = f.panels.iter().map(|p| !p.curves.is_empty()).collect();
        assert_eq!(filled, [true, false, false, true]);
        assert_eq!(f.panels[1].title, "r=a, c=2");
    }

    #[test]
    fn named_variables_in_check_order() {
        let mut spec = CurveSpec::new("x", "y");
        spec.curve_by = vec!["a".into()];
        spec.filters = Filter::parse_list("b<1").unwrap();
        let roles: Vec<String> = spec
            .named_variables()
            .into_iter()
            .map(|(r, v)| format!("{r}={v}"))
            .collect();
        assert_eq!(roles, ["var_x=x", "var_y=y", "curve_by=a", "filter_by=b"]);
    }
}
