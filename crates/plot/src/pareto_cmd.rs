//! `llmsweep plot-pareto` as a library call: read the folder, build the Pareto chart and
//! write `OUTPUT_DIR/pareto/PARETO.png` (and `.svg`), or only say what would be written.

use std::path::PathBuf;

use crate::error::PlotError;
use crate::pareto::{ParetoChart, ParetoSpec, build_pareto, require_variable};
use crate::plot::write_chart;
use crate::render::{Chart, FigureSize, ImageFormat};
use crate::scale::format_value;
use crate::table::Table;

/// Everything `llmsweep plot-pareto` needs.
#[derive(Debug, Clone)]
pub struct ParetoOptions {
    /// The sweep folder.
    pub output_dir: PathBuf,
    /// How users and GPUs are counted, and the point labels.
    pub spec: ParetoSpec,
    /// Formats to write.
    pub formats: Vec<ImageFormat>,
    /// Plot size and resolution.
    pub size: FigureSize,
    /// Say what would be drawn, draw nothing.
    pub dry_run: bool,
    /// Variables named on the command line, as (flag role, variable): each must be in some
    /// run, or the command fails listing the available ones.
    pub required: Vec<(String, String)>,
}

/// What `plot-pareto` did.
#[derive(Debug, Clone)]
pub struct ParetoOutcome {
    /// The chart.
    pub chart: ParetoChart,
    /// Its files.
    pub files: Vec<PathBuf>,
    /// Were they written?
    pub written: bool,
}

impl ParetoOutcome {
    /// The message about skipped runs, if any were skipped.
    pub fn skipped_message(&self, spec: &ParetoSpec) -> Option<String> {
        let mut lines = Vec::new();
        if self.chart.skipped_no_users > 0 {
            lines.push(format!(
                "Skipped {} runs without a user count ({}, request_rate or max_concurrent_requests).",
                self.chart.skipped_no_users, spec.user_count_var
            ));
        }
        if self.chart.skipped_nan > 0 {
            lines.push(format!(
                "Left out {} runs whose output_throughput is NaN.",
                self.chart.skipped_nan
            ));
        }
        (!lines.is_empty()).then(|| lines.join("\n"))
    }

    /// vLLM's block for the figure, plus the frontier as a table.
    pub fn describe(&self) -> String {
        let c = &self.chart;
        let mut out = String::from("[BEGIN FIGURE]\nGroup: {}\n");
        for f in &self.files {
            out.push_str(&format!("Output file: {}\n", f.display()));
        }
        out.push_str(&format!(
            "Plotted {} points; Pareto frontier size: {}.\n",
            c.points.len(),
            c.frontier.len()
        ));
        out.push_str("Frontier (tokens/s/user, tokens/s/GPU, labels, folder):\n");
        for &i in &c.frontier {
            let p = &c.points[i];
            out.push_str(&format!(
                "  {:>10}  {:>10}  {}  ({})\n",
                format_value(p.x),
                format_value(p.y),
                p.label.join(", "),
                p.combination
            ));
        }
        out.push_str("[END FIGURE]");
        out
    }
}

/// Run `llmsweep plot-pareto`. Fails when the folder has no runs, a run lacks
/// `output_throughput`, or no run has a user count.
pub fn plot_pareto(opts: &ParetoOptions) -> Result<ParetoOutcome, PlotError> {
    let table = Table::load_nonempty(&opts.output_dir)?;
    for (what, var) in &opts.required {
        require_variable(&table, what, var)?;
    }
    let chart = build_pareto(&table, &opts.spec)?;
    if chart.points.is_empty() && chart.skipped_nan > 0 {
        return Err(PlotError::NoParetoPoints(format!(
            "no run under '{}' can be plotted: {} have a NaN output_throughput and {} no user count ({}, request_rate or max_concurrent_requests > 0)",
            opts.output_dir.display(),
            chart.skipped_nan,
            chart.skipped_no_users,
            opts.spec.user_count_var
        )));
    }
    if chart.points.is_empty() {
        return Err(PlotError::NoParetoPoints(format!(
            "none of the {} runs under '{}' has a user count ({}, request_rate or \
             max_concurrent_requests > 0), so there is no Pareto frontier to plot",
            table.runs.len(),
            opts.output_dir.display(),
            opts.spec.user_count_var
        )));
    }
    let dir = opts.output_dir.join("pareto");
    let files: Vec<PathBuf> = opts
        .formats
        .iter()
        .map(|f| dir.join(format!("PARETO.{}", f.extension())))
        .collect();
    if !opts.dry_run {
        for (format, path) in opts.formats.iter().zip(&files) {
            write_chart(Chart::Pareto(&chart), &opts.size, *format, path)?;
        }
    }
    Ok(ParetoOutcome {
        chart,
        files,
        written: !opts.dry_run,
    })
}
