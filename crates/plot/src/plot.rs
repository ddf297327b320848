//! `llmsweep plot` as a library call: check the variables, split the runs into figures,
//! filter and bin them, build each figure and write its files (or only say what would be
//! written, for `--dry-run`).

use std::path::{Path, PathBuf};

use llmsweep_core::layout::{sanitize_component, write_atomic};
use llmsweep_core::pyfmt::py_str;
use llmsweep_core::record::as_number;

use crate::error::PlotError;
use crate::figure::{CurveSpec, Figure, build_figure};
use crate::filter::apply_filters;
use crate::render::{Chart, FigureSize, ImageFormat, render};
use crate::scale::Scale;
use crate::table::{GroupKey, Run, Table, group_rows};

/// Everything `llmsweep plot` needs.
#[derive(Debug, Clone)]
pub struct PlotOptions {
    /// The sweep folder (every `summary.json` below it is read).
    pub output_dir: PathBuf,
    /// Where figures go, relative to `output_dir` (empty: `output_dir` itself).
    pub fig_dir: PathBuf,
    /// File name prefix.
    pub fig_name: String,
    /// What to draw.
    pub spec: CurveSpec,
    /// Formats to write.
    pub formats: Vec<ImageFormat>,
    /// Panel size and resolution.
    pub size: FigureSize,
    /// Say what would be drawn, draw nothing.
    pub dry_run: bool,
}

/// What happened to one figure.
#[derive(Debug, Clone)]
pub struct FigureOutcome {
    /// The figure's `--fig-by` values.
    pub group: GroupKey,
    /// The figure (after filtering and binning).
    pub figure: Figure,
    /// Its files, one per format.
    pub files: Vec<PathBuf>,
    /// Runs in the figure's group before filtering.
    pub runs_before_filter: usize,
    /// Were the files written?
    pub written: bool,
}

impl FigureOutcome {
    /// vLLM's block for a figure: `[BEGIN FIGURE]`, the group, the grid, the files, and
    /// a line when nothing is left to plot.
    pub fn describe(&self, filters_text: &str) -> String {
        let mut out = String::from("[BEGIN FIGURE]\n");
        out.push_str(&format!("Group: {}\n", self.group.py_dict()));
        out.push_str(&format!(
            "Grid: {} rows x {} cols\n",
            self.figure.rows, self.figure.cols
        ));
        for f in &self.files {
            out.push_str(&format!("Output file: {}\n", f.display()));
        }
        if self.figure.runs == 0 {
            out.push_str(&format!(
                "No data to plot: no run of this figure passes --filter-by {filters_text} \
                 ({} before filtering)\n",
                self.runs_before_filter
            ));
        } else if self.figure.is_empty() {
            out.push_str(&format!(
                "No data to plot: none of the {} runs has a numeric {} and {}\n",
                self.figure.runs, self.figure.x.var, self.figure.y.var
            ));
        } else {
            let points: usize = self
                .figure
                .panels
                .iter()
                .flat_map(|p| &p.curves)
                .map(|c| c.points.len())
                .sum();
            out.push_str(&format!(
                "Runs: {} ({} points, {} curves){}\n",
                self.figure.runs,
                points,
                self.figure.legend.len().max(1),
                if self.figure.skipped > 0 {
                    format!(", {} left out", self.figure.skipped)
                } else {
                    String::new()
                }
            ));
        }
        out.push_str("[END FIGURE]");
        out
    }
}

/// Check that every variable the spec names exists, and that x and y are numbers in at
/// least one run.
pub fn check_variables(table: &Table, spec: &CurveSpec) -> Result<(), PlotError> {
    for (role, var) in spec.named_variables() {
        table.require(&role, &var)?;
    }
    for (role, var) in [("var_x", &spec.var_x), ("var_y", &spec.var_y)] {
        let mut example = None;
        let mut numeric = false;
        for run in &table.runs {
            match run.record.get(var.as_str()) {
                Some(v) if as_number(v).is_some() => {
                    numeric = true;
                    break;
                }
                Some(v) if !v.is_null() && example.is_none() => example = Some((v.clone(), run)),
                _ => {}
            }
        }
        if let (false, Some((v, run))) = (numeric, example) {
            return Err(PlotError::NotNumeric {
                what: role.to_string(),
                var: var.clone(),
                value: py_str(&v),
                file: table.source_of(run).display().to_string(),
            });
        }
    }
    Ok(())
}

/// The file of a figure: `fig_dir/<fig_name>-k=v-….<ext>`, made safe as vLLM's
/// `sanitize_filename` does.
pub fn figure_path(fig_dir: &Path, fig_name: &str, group: &GroupKey, ext: &str) -> PathBuf {
    let mut parts = vec![fig_name.to_string()];
    parts.extend(group.parts());
    fig_dir.join(sanitize_component(&format!("{}.{ext}", parts.join("-"))))
}

/// Split the runs into figures, filter and bin each, and build it. The figures come in
/// first-seen order of their `--fig-by` values.
pub fn build_figures(
    table: &Table,
    spec: &CurveSpec,
) -> Result<Vec<(GroupKey, usize, Figure)>, PlotError> {
    let all: Vec<usize> = (0..table.runs.len()).collect();
    let mut out = Vec::new();
    for (group, rows) in group_rows(&table.runs, &all, &spec.fig_by) {
        let keep = apply_filters(&spec.filters, rows.iter().map(|&i| &table.runs[i].record));
        let mut runs: Vec<Run> = rows
            .iter()
            .zip(keep)
            .filter(|(_, k)| *k)
            .map(|(&i, _)| table.runs[i].clone())
            .collect();
        for run in &mut runs {
            for b in &spec.binners {
                b.apply(&mut run.record)
                    .map_err(|value| PlotError::NotNumeric {
                        what: "bin_by".into(),
                        var: b.var.clone(),
                        value,
                        file: table.source_of(run).display().to_string(),
                    })?;
            }
        }
        let fig = build_figure(spec, group.clone(), &runs);
        out.push((group, rows.len(), fig));
    }
    Ok(out)
}

/// Run `llmsweep plot`: read the folder, build the figures, and (unless a dry run) write
/// them. Fails when the folder has no runs, a variable is missing, no run is left after
/// filtering, or no run left has a point to draw.
pub fn plot(opts: &PlotOptions) -> Result<Vec<FigureOutcome>, PlotError> {
    let table = Table::load_nonempty(&opts.output_dir)?;
    check_variables(&table, &opts.spec)?;
    let fig_dir = opts.output_dir.join(&opts.fig_dir);
    let figures = build_figures(&table, &opts.spec)?;
    let total_after: usize = figures.iter().map(|(_, _, f)| f.runs).sum();
    if total_after == 0 {
        return Err(PlotError::EmptyAfterFilter {
            filters: filters_text(&opts.spec),
            before: table.runs.len(),
        });
    }
    if figures.iter().all(|(_, _, f)| f.is_empty()) {
        let spec = &opts.spec;
        let scaled = spec.scale_x != Scale::Linear || spec.scale_y != Scale::Linear;
        return Err(PlotError::NothingToDraw {
            runs: total_after,
            var_x: spec.var_x.clone(),
            var_y: spec.var_y.clone(),
            scales: if scaled {
                " inside the axis scales (log needs values > 0, sqrt values >= 0)".into()
            } else {
                String::new()
            },
        });
    }
    let mut outcomes = Vec::new();
    for (group, before, figure) in figures {
        let files: Vec<PathBuf> = opts
            .formats
            .iter()
            .map(|f| figure_path(&fig_dir, &opts.fig_name, &group, f.extension()))
            .collect();
        let mut written = false;
        if !opts.dry_run && !figure.is_empty() {
            for (format, path) in opts.formats.iter().zip(&files) {
                write_chart(Chart::Curves(&figure), &opts.size, *format, path)?;
            }
            written = true;
        }
        outcomes.push(FigureOutcome {
            group,
            figure,
            files,
            runs_before_filter: before,
            written,
        });
    }
    Ok(outcomes)
}

/// The filters as written on the command line.
pub fn filters_text(spec: &CurveSpec) -> String {
    if spec.filters.is_empty() {
        return "(none)".into();
    }
    spec.filters
        .iter()
        .map(|f| f.text.clone())
        .collect::<Vec<_>>()
        .join(",")
}

/// Draw a chart and write it atomically.
pub fn write_chart(
    chart: Chart<'_>,
    size: &FigureSize,
    format: ImageFormat,
    path: &Path,
) -> Result<(), PlotError> {
    let bytes = render(chart, size, format).map_err(|message| PlotError::Render {
        file: path.to_path_buf(),
        message,
    })?;
    write_atomic(path, &bytes).map_err(|source| PlotError::Write {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn file_names_follow_vllm() {
        let g = GroupKey(vec![
            ("max_num_seqs".into(), "16".into()),
            ("model".into(), "org/m..x".into()),
        ]);
        assert_eq!(
            figure_path(Path::new("out"), "FIGURE", &g, "png"),
            Path::new("out/FIGURE-max_num_seqs=16-model=org_m__x.png")
        );
        assert_eq!(
            figure_path(Path::new(""), "lat", &GroupKey::default(), "svg"),
            Path::new("lat.svg")
        );
    }

    #[test]
    fn variables_are_checked_with_the_available_list() {
        let t = Table::from_records(
            vec![
                json!({"x": 1, "y": "fast"}).as_object().unwrap().clone(),
                json!({"x": 2, "y": "slow"}).as_object().unwrap().clone(),
            ],
            Path::new("a/summary.json"),
        );
        let mut spec = CurveSpec::new("x", "nope");
        let e = check_variables(&t, &spec).unwrap_err().to_string();
        assert!(
            e.contains("var_y='nope'") && e.contains("Available variables: x, y"),
            "{e}"
        );
        spec.var_y = "y".into();
        let e = check_variables(&t, &spec).unwrap_err().to_string();
        assert!(e.contains("must be a number") && e.contains("fast"), "{e}");
        spec.var_y = "x".into();
        spec.curve_by = vec!["c".into()];
        let e = check_variables(&t, &spec).unwrap_err().to_string();
        assert!(e.contains("curve_by='c'"), "{e}");
    }

    #[test]
    fn figures_per_group_with_filters_and_bins() {
        let recs = (0..6)
            .map(|i| {
                json!({"g": i % 2, "x": i as f64 + 0.5, "y": i * 10})
                    .as_object()
                    .unwrap()
                    .clone()
            })
            .collect();
        let t = Table::from_records(recs, Path::new("a/summary.json"));
        let mut spec = CurveSpec::new("x", "y");
        spec.fig_by = vec!["g".into()];
        spec.filters = crate::filter::Filter::parse_list("y>=20").unwrap();
        spec.binners = crate::filter::Binner::parse_list("x%2").unwrap();
        let figs = build_figures(&t, &spec).unwrap();
        assert_eq!(figs.len(), 2);
        let (g0, before, f0) = &figs[0];
        assert_eq!(g0.text(), "g=0");
        assert_eq!((*before, f0.runs), (3, 2)); // y=0 filtered out
        let xs: Vec<f64> = f0.panels[0].curves[0].points.iter().map(|p| p.x).collect();
        assert_eq!(xs, [2.0, 4.0]); // 2.5 → 2, 4.5 → 4
    }
}
