//! Charts and reports from sweep folders, for `llmsweep plot`, `llmsweep plot-pareto` and
//! `llmsweep report`.
//!
//! A sweep folder is read the way vLLM's `vllm bench sweep plot` reads it: every
//! `summary.json` below it, recursively, so folders written by llmsweep and by vLLM's own
//! sweep work alike. The pipeline is
//!
//! - [`table`]: runs → rows, variables, grouping; [`filter`]: `--filter-by`, `--bin-by`;
//! - [`figure`]: the curves model (figures → grid panels → curves of mean ± 95% CI,
//!   [`stats`]); [`pareto`]: tokens/s/user vs tokens/s/GPU and its frontier;
//! - [`render`]: PNG and SVG with an embedded font; [`report`]: one self-contained HTML
//!   file with interactive charts.
//!
//! Entry points for the other rooms: [`plot::plot`], [`pareto_cmd::plot_pareto`],
//! [`report::write_report`] and [`defaults::draw_default_charts`] (what a sweep draws when
//! it ends). Nothing here starts a process or opens a socket.
//!
//! ```no_run
//! use std::path::Path;
//! let charts = llmsweep_plot::defaults::draw_default_charts(Path::new("results/exp1"))?;
//! for file in &charts.files {
//!     println!("chart: {}", file.display());
//! }
//! let report = llmsweep_plot::report::write_report(Path::new("results/exp1"))?;
//! println!("report: {}", report.display());
//! # Ok::<(), anyhow::Error>(())
//! ```

#![warn(missing_docs)]

pub mod defaults;
pub mod error;
pub mod figure;
pub mod filter;
pub mod pareto;
pub mod pareto_cmd;
pub mod plot;
pub mod render;
pub mod report;
pub mod scale;
pub mod stats;
pub mod table;
pub mod units;

pub use error::PlotError;
