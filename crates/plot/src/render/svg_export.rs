//! SVG: plotters' SVG backend; shapes are vectors and text is `<text>` in the viewer's
//! sans-serif font (laid out with DejaVu's metrics).

use plotters::prelude::SVGBackend;

use super::canvas::BackendCanvas;
use super::{Exporter, ImageFormat, Prepared};

/// Writes SVG files.
#[derive(Debug, Clone, Copy)]
pub struct SvgExporter;

impl Exporter for SvgExporter {
    fn format(&self) -> ImageFormat {
        ImageFormat::Svg
    }

    fn export(&self, chart: &Prepared<'_>) -> Result<Vec<u8>, String> {
        let mut svg = String::new();
        {
            let backend = SVGBackend::with_string(&mut svg, chart.size());
            let mut canvas = BackendCanvas::new(backend, 1.0, false);
            chart.draw(&mut canvas);
            canvas.finish()?;
        }
        Ok(svg.into_bytes())
    }
}
