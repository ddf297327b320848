//! Drawing charts into files: a [`Chart`] (curves or Pareto) is laid out once and drawn
//! through the [`Canvas`](canvas::Canvas) trait by an [`Exporter`], one per image format.
//! Text uses DejaVu Sans compiled into the binary, so no system font is needed.
//!
//! Adding a format means one new exporter and one arm in [`exporter`].

pub mod axes;
pub mod canvas;
pub mod curves;
pub mod pareto_chart;
mod png_export;
mod svg_export;
pub mod theme;

use std::sync::OnceLock;

use crate::figure::Figure;
use crate::pareto::ParetoChart;
use canvas::Canvas;
use theme::Theme;

pub use png_export::PngExporter;
pub use svg_export::SvgExporter;

/// An image file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    /// PNG, supersampled for smooth lines.
    Png,
    /// SVG; text is left to the viewer's sans-serif font.
    Svg,
}

impl ImageFormat {
    /// The file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            ImageFormat::Png => "png",
            ImageFormat::Svg => "svg",
        }
    }
}

/// How big to draw: panels of `height_in` inches at `dpi` dots per inch (vLLM's
/// `--fig-height`, `--fig-dpi`). Text and lines grow with the dpi.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FigureSize {
    /// Height of one panel, inches.
    pub height_in: f64,
    /// Dots per inch; 100 is the base size of text.
    pub dpi: f64,
}

impl Default for FigureSize {
    fn default() -> Self {
        FigureSize {
            height_in: 6.4,
            dpi: 100.0,
        }
    }
}

impl FigureSize {
    fn theme(&self) -> Theme {
        Theme::for_dpi(self.dpi)
    }
    fn panel_px(&self) -> f64 {
        self.height_in * self.dpi
    }
}

/// Something to draw.
#[derive(Debug, Clone, Copy)]
pub enum Chart<'a> {
    /// A `plot` figure.
    Curves(&'a Figure),
    /// A `plot-pareto` chart.
    Pareto(&'a ParetoChart),
}

/// A chart laid out at a size, ready to draw on any canvas.
pub struct Prepared<'a> {
    chart: Chart<'a>,
    theme: Theme,
    layout: PreparedLayout,
}

enum PreparedLayout {
    Curves(curves::CurvesLayout),
    Pareto(pareto_chart::ParetoLayout),
}

impl<'a> Prepared<'a> {
    /// Lay out `chart` at `size`.
    pub fn new(chart: Chart<'a>, size: &FigureSize) -> Self {
        let theme = size.theme();
        let layout = match chart {
            Chart::Curves(fig) => {
                PreparedLayout::Curves(curves::layout(fig, &theme, size.panel_px(), 1.25))
            }
            Chart::Pareto(p) => {
                PreparedLayout::Pareto(pareto_chart::layout(p, &theme, size.panel_px()))
            }
        };
        Prepared {
            chart,
            theme,
            layout,
        }
    }

    /// Width and height in pixels.
    pub fn size(&self) -> (u32, u32) {
        let (w, h) = match &self.layout {
            PreparedLayout::Curves(l) => (l.width, l.height),
            PreparedLayout::Pareto(l) => (l.width, l.height),
        };
        (w.max(1.0) as u32, h.max(1.0) as u32)
    }

    /// Draw on a canvas of [`Self::size`].
    pub fn draw(&self, canvas: &mut dyn Canvas) {
        match (&self.chart, &self.layout) {
            (Chart::Curves(fig), PreparedLayout::Curves(l)) => {
                curves::draw(fig, l, &self.theme, canvas)
            }
            (Chart::Pareto(p), PreparedLayout::Pareto(l)) => {
                pareto_chart::draw(p, l, &self.theme, canvas)
            }
            _ => unreachable!("a chart is always laid out by its own kind"),
        }
    }
}

/// Turns a chart into the bytes of one file format.
pub trait Exporter {
    /// The format written.
    fn format(&self) -> ImageFormat;
    /// Draw the chart and encode it.
    fn export(&self, chart: &Prepared<'_>) -> Result<Vec<u8>, String>;
}

/// The exporter of a format.
pub fn exporter(format: ImageFormat) -> Box<dyn Exporter> {
    match format {
        ImageFormat::Png => Box::new(PngExporter { supersample: 2 }),
        ImageFormat::Svg => Box::new(SvgExporter),
    }
}

/// Register the embedded DejaVu Sans (regular and bold) as plotters' `sans-serif`, once.
pub fn ensure_fonts() -> Result<(), String> {
    static FONTS: OnceLock<Result<(), String>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            use plotters::style::{FontStyle, register_font};
            register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
                .map_err(|_| "the embedded DejaVu Sans font could not be loaded".to_string())?;
            register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold())
                .map_err(|_| "the embedded DejaVu Sans Bold font could not be loaded".to_string())
        })
        .clone()
}

/// Draw `chart` at `size` in `format`.
pub fn render(chart: Chart<'_>, size: &FigureSize, format: ImageFormat) -> Result<Vec<u8>, String> {
    ensure_fonts()?;
    let prepared = Prepared::new(chart, size);
    exporter(format).export(&prepared)
}

#[cfg(test)]
mod tests;
