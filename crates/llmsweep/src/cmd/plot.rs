//! `llmsweep plot`: latency/throughput curves from a sweep folder, with the flags and
//! defaults of vLLM's `vllm bench sweep plot`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use llmsweep_plot::figure::CurveSpec;
use llmsweep_plot::filter::{Binner, Filter};
use llmsweep_plot::plot::{PlotOptions, filters_text, plot};
use llmsweep_plot::render::{FigureSize, ImageFormat};
use llmsweep_plot::scale::Scale;
use llmsweep_plot::table::split_list;

/// Image formats to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    /// PNG only.
    Png,
    /// SVG only.
    Svg,
    /// PNG and SVG.
    Both,
}

impl FormatArg {
    /// The formats this choice writes.
    pub fn formats(self) -> Vec<ImageFormat> {
        match self {
            FormatArg::Png => vec![ImageFormat::Png],
            FormatArg::Svg => vec![ImageFormat::Svg],
            FormatArg::Both => vec![ImageFormat::Png, ImageFormat::Svg],
        }
    }
}

/// Parse `--scale-x`/`--scale-y`.
pub fn parse_scale(s: &str) -> Result<Scale, String> {
    s.parse()
}

/// `--fig-height` and `--fig-dpi`, shared by `plot` and `plot-pareto`.
#[derive(Debug, clap::Args)]
pub struct SizeArgs {
    /// Height of each panel (of the plot area, for plot-pareto) in inches; panels are
    /// 1.25 × as wide.
    #[arg(long, default_value_t = 6.4)]
    pub fig_height: f64,
    /// Resolution in dots per inch; text and lines scale with it (vLLM draws at 300).
    #[arg(long, default_value_t = 100)]
    pub fig_dpi: u32,
}

impl SizeArgs {
    /// Check the values and make the size.
    pub fn size(&self) -> anyhow::Result<FigureSize> {
        let (height_in, dpi) = (self.fig_height, self.fig_dpi);
        if !(0.5..=40.0).contains(&height_in) {
            anyhow::bail!("--fig-height {height_in}: expected inches between 0.5 and 40");
        }
        if !(20..=600).contains(&dpi) {
            anyhow::bail!("--fig-dpi {dpi}: expected dots per inch between 20 and 600");
        }
        Ok(FigureSize {
            height_in,
            dpi: f64::from(dpi),
        })
    }
}

/// Flags of `llmsweep plot`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The sweep folder: every summary.json below it is read (llmsweep's or vLLM's).
    #[arg(value_name = "OUTPUT_DIR")]
    pub output_dir: PathBuf,
    /// Where figures go, relative to OUTPUT_DIR (default: OUTPUT_DIR itself).
    #[arg(long, default_value = "", hide_default_value = true)]
    pub fig_dir: String,
    /// Comma list of variables: one figure per combination of their values.
    #[arg(long, default_value = "", hide_default_value = true)]
    pub fig_by: String,
    /// Comma list of variables: one grid row per combination of their values.
    #[arg(long, default_value = "", hide_default_value = true)]
    pub row_by: String,
    /// Comma list of variables: one grid column per combination of their values.
    #[arg(long, default_value = "", hide_default_value = true)]
    pub col_by: String,
    /// Comma list of variables: one curve per combination of their values.
    #[arg(long)]
    pub curve_by: Option<String>,
    /// The variable on the x axis.
    #[arg(long, default_value = "request_throughput")]
    pub var_x: String,
    /// The variable on the y axis.
    #[arg(long, default_value = "p99_e2el_ms")]
    pub var_y: String,
    /// Comma list of `VAR OP VALUE` (OP one of ==, !=, <=, >=, <, >): plot only runs
    /// passing all, e.g. `max_concurrency<1000,max_num_batched_tokens<=4096`.
    #[arg(long, default_value = "", hide_default_value = true)]
    pub filter_by: String,
    /// Comma list of `VAR%SIZE`: round values down to bins of SIZE, e.g.
    /// `request_throughput%1`.
    #[arg(long, default_value = "", hide_default_value = true)]
    pub bin_by: String,
    /// x axis scale: linear, log or sqrt.
    #[arg(long, value_parser = parse_scale, default_value = "linear")]
    pub scale_x: Scale,
    /// y axis scale: linear, log or sqrt.
    #[arg(long, value_parser = parse_scale, default_value = "linear")]
    pub scale_y: Scale,
    /// File name prefix: files are `<fig-name>-k=v….png`.
    #[arg(long, default_value = "FIGURE")]
    pub fig_name: String,
    /// Image format(s) to write.
    #[arg(long, value_enum, default_value = "png")]
    pub format: FormatArg,
    /// Draw only the mean of repeated runs, without the 95% confidence band.
    #[arg(long)]
    pub no_error_bars: bool,
    /// Panel size and resolution.
    #[command(flatten)]
    pub size: SizeArgs,
    /// Print each figure, its grid size and its files; draw nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Run `llmsweep plot`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let spec = CurveSpec {
        var_x: args.var_x,
        var_y: args.var_y,
        fig_by: split_list(&args.fig_by),
        row_by: split_list(&args.row_by),
        col_by: split_list(&args.col_by),
        curve_by: split_list(args.curve_by.as_deref().unwrap_or("")),
        filters: Filter::parse_list(&args.filter_by)?,
        binners: Binner::parse_list(&args.bin_by)?,
        scale_x: args.scale_x,
        scale_y: args.scale_y,
        error_bars: !args.no_error_bars,
    };
    let opts = PlotOptions {
        output_dir: args.output_dir,
        fig_dir: PathBuf::from(args.fig_dir),
        fig_name: args.fig_name,
        spec,
        formats: args.format.formats(),
        size: args.size.size()?,
        dry_run: args.dry_run,
    };
    let outcomes = plot(&opts)?;
    let filters = filters_text(&opts.spec);
    let mut out = std::io::stdout().lock();
    for o in &outcomes {
        writeln!(out, "{}", o.describe(&filters))?;
    }
    let files: usize = outcomes
        .iter()
        .filter(|o| o.written)
        .map(|o| o.files.len())
        .sum();
    if opts.dry_run {
        writeln!(
            out,
            "Dry run: {} figure(s) planned, nothing drawn.",
            outcomes.len()
        )?;
    } else {
        writeln!(
            out,
            "Wrote {files} file(s) for {} figure(s).",
            outcomes.iter().filter(|o| o.written).count()
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
