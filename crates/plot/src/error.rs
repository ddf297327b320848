//! Errors a user can cause when plotting or reporting: each names what was wrong, where,
//! and what was expected.

use std::path::PathBuf;

use llmsweep_core::record::RecordError;

/// Why a chart or report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// No `summary.json` with any run below the folder.
    #[error("did not find any parameter sweep results (summary.json) under '{dir}'")]
    NoResults {
        /// The folder searched.
        dir: PathBuf,
    },
    /// The folder does not exist or is not a folder.
    #[error("'{dir}' is not a folder of sweep results")]
    NotAFolder {
        /// The path given.
        dir: PathBuf,
    },
    /// A variable named on the command line is in no run.
    #[error(
        "cannot find {what}='{var}' in the parameter sweep results. Available variables: {}",
        available.join(", ")
    )]
    MissingVariable {
        /// The flag or role that named it (`var_x`, `curve_by`, …).
        what: String,
        /// The variable.
        var: String,
        /// Every variable present in some run, in first-seen order.
        available: Vec<String>,
    },
    /// A run has no output throughput, which the Pareto chart divides.
    #[error(
        "cannot draw a Pareto chart: {file} has no output_throughput (runs of a start-up sweep have none). Its variables: {}",
        available.join(", ")
    )]
    NoThroughput {
        /// The `summary.json` holding the run.
        file: String,
        /// The run's variables.
        available: Vec<String>,
    },
    /// A variable that must be numeric holds something else.
    #[error("{what}='{var}' must be a number, but {file} has {value}")]
    NotNumeric {
        /// The role of the variable.
        what: String,
        /// The variable.
        var: String,
        /// The value found, as Python prints it.
        value: String,
        /// The file it came from.
        file: String,
    },
    /// A `--filter-by` or `--bin-by` item could not be parsed.
    #[error("{flag} '{text}': {reason}")]
    BadSpec {
        /// The flag.
        flag: &'static str,
        /// The item as written.
        text: String,
        /// What was expected.
        reason: String,
    },
    /// Every run was removed by the filters.
    #[error("no runs left to plot after --filter-by {filters} ({before} runs before filtering)")]
    EmptyAfterFilter {
        /// The filters as written.
        filters: String,
        /// How many runs there were.
        before: usize,
    },
    /// Runs are left, but none has a point to draw.
    #[error(
        "nothing to draw: none of the {runs} runs has a finite numeric {var_x} and {var_y}{scales}"
    )]
    NothingToDraw {
        /// Runs after filtering.
        runs: usize,
        /// The x variable.
        var_x: String,
        /// The y variable.
        var_y: String,
        /// A note about log/sqrt scales, if one is used.
        scales: String,
    },
    /// No run could be placed on the Pareto chart.
    #[error("{0}")]
    NoParetoPoints(String),
    /// A result file could not be read.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// A chart could not be drawn.
    #[error("cannot draw '{file}': {message}")]
    Render {
        /// The file being drawn.
        file: PathBuf,
        /// What the drawing code said.
        message: String,
    },
    /// An output file could not be written.
    #[error("cannot write '{path}': {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
}
