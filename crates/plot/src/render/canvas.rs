//! The few drawing operations the charts need, in floating-point pixels, behind one trait
//! so the same layout code draws a PNG, an SVG, or (in tests) a list of shapes to check.

use plotters::prelude::{DrawingBackend, IntoFont, RGBAColor, ShapeStyle, TextStyle};
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, FontTransform};

/// A colour with opacity (0–1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Color {
    /// Red.
    pub r: u8,
    /// Green.
    pub g: u8,
    /// Blue.
    pub b: u8,
    /// Opacity, 0 transparent to 1 opaque.
    pub a: f64,
}

impl Color {
    /// An opaque colour from `0xRRGGBB`.
    pub const fn hex(rgb: u32) -> Self {
        Color {
            r: (rgb >> 16) as u8,
            g: (rgb >> 8) as u8,
            b: rgb as u8,
            a: 1.0,
        }
    }

    /// The same colour with another opacity.
    pub const fn alpha(self, a: f64) -> Self {
        Color { a, ..self }
    }

    fn rgba(self) -> RGBAColor {
        RGBAColor(self.r, self.g, self.b, self.a)
    }
}

/// A font: the embedded DejaVu Sans, regular or bold, at a size in pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Font {
    /// Size in pixels (plotters' size: the line box is `size / 1.24` tall).
    pub size: f64,
    /// Bold face.
    pub bold: bool,
}

/// Horizontal anchor of a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HAlign {
    /// The text starts at x.
    Left,
    /// The text is centred on x.
    Center,
    /// The text ends at x.
    Right,
}

/// Vertical anchor of a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VAlign {
    /// The text's top is at y.
    Top,
    /// The text is centred on y.
    Middle,
    /// The text's bottom is at y.
    Bottom,
}

/// Where and how to write a text.
#[derive(Debug, Clone, Copy)]
pub struct TextPlacement {
    /// Anchor x.
    pub x: f64,
    /// Anchor y.
    pub y: f64,
    /// Horizontal anchor.
    pub h: HAlign,
    /// Vertical anchor.
    pub v: VAlign,
    /// Turned 90° counter-clockwise (reads bottom to top), centred on the anchor.
    pub vertical: bool,
}

impl TextPlacement {
    /// A horizontal text anchored at `(x, y)`.
    pub fn new(x: f64, y: f64, h: HAlign, v: VAlign) -> Self {
        TextPlacement {
            x,
            y,
            h,
            v,
            vertical: false,
        }
    }

    /// A text reading bottom to top, centred on `(x, y)`.
    pub fn vertical(x: f64, y: f64) -> Self {
        TextPlacement {
            x,
            y,
            h: HAlign::Center,
            v: VAlign::Middle,
            vertical: true,
        }
    }
}

/// The plotters face of a font.
fn face(font: Font) -> FontStyle {
    if font.bold {
        FontStyle::Bold
    } else {
        FontStyle::Normal
    }
}

/// Drawing operations in pixels; the origin is the top left.
pub trait Canvas {
    /// Width and height.
    fn size(&self) -> (f64, f64);
    /// A line through the points.
    fn polyline(&mut self, points: &[(f64, f64)], color: Color, width: f64);
    /// A filled polygon.
    fn polygon(&mut self, points: &[(f64, f64)], color: Color);
    /// A rectangle, filled and/or outlined.
    fn rect(
        &mut self,
        top_left: (f64, f64),
        bottom_right: (f64, f64),
        fill: Option<Color>,
        stroke: Option<(Color, f64)>,
    );
    /// A filled circle.
    fn circle(&mut self, center: (f64, f64), radius: f64, fill: Color);
    /// A text.
    fn text(&mut self, text: &str, at: TextPlacement, font: Font, color: Color);
}

/// The size a text takes, horizontal, in pixels (from the embedded font's metrics).
pub fn text_size(text: &str, font: Font) -> (f64, f64) {
    let desc = ("sans-serif", font.size, face(font)).into_font();
    match desc.box_size(text) {
        Ok((w, h)) => (f64::from(w), f64::from(h)),
        // Without the font (a bug: it is registered first), estimate.
        Err(_) => (
            text.chars().count() as f64 * font.size * 0.5,
            font.size / 1.24,
        ),
    }
}

/// A [`Canvas`] over a plotters backend, drawing at `scale` × the layout's pixels (for
/// supersampled PNGs). The first drawing error is kept and reported by [`Self::finish`].
pub struct BackendCanvas<DB: DrawingBackend> {
    backend: DB,
    scale: f64,
    raster: bool,
    error: Option<String>,
}

impl<DB: DrawingBackend> BackendCanvas<DB> {
    /// Wrap a backend whose size is `scale` times the layout's. A `raster` backend gets
    /// thick lines as filled segments with round joins: plotters' own thick paths use
    /// miter joins, which spike far off the chart where a line turns back sharply.
    pub fn new(backend: DB, scale: f64, raster: bool) -> Self {
        BackendCanvas {
            backend,
            scale,
            raster,
            error: None,
        }
    }

    /// A thick line as one quad per segment plus a disc at each inner joint.
    fn thick_polyline(&mut self, points: &[(f64, f64)], color: Color, width_px: f64) {
        let half = width_px / 2.0;
        let fill = color.rgba();
        for w in points.windows(2) {
            let (a, b) = (
                (w[0].0 * self.scale, w[0].1 * self.scale),
                (w[1].0 * self.scale, w[1].1 * self.scale),
            );
            let (dx, dy) = (b.0 - a.0, b.1 - a.1);
            let len = (dx * dx + dy * dy).sqrt();
            if len < 1e-9 {
                continue;
            }
            let (nx, ny) = (-dy / len * half, dx / len * half);
            let quad = [
                (a.0 + nx, a.1 + ny),
                (b.0 + nx, b.1 + ny),
                (b.0 - nx, b.1 - ny),
                (a.0 - nx, a.1 - ny),
            ]
            .map(|(x, y)| (x.round() as i32, y.round() as i32));
            let r = self.backend.fill_polygon(quad, &fill);
            self.keep(r);
        }
        if half >= 1.0 {
            for p in &points[1..points.len() - 1] {
                let c = self.px(*p);
                let r = self
                    .backend
                    .draw_circle(c, half.round() as u32, &fill, true);
                self.keep(r);
            }
        }
    }

    /// Flush the backend; the first error met while drawing, if any.
    pub fn finish(mut self) -> Result<(), String> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.backend.present().map_err(|e| e.to_string())
    }

    fn px(&self, p: (f64, f64)) -> (i32, i32) {
        (
            (p.0 * self.scale).round() as i32,
            (p.1 * self.scale).round() as i32,
        )
    }

    fn keep<E: std::fmt::Display>(&mut self, r: Result<(), E>) {
        if let Err(e) = r {
            self.error.get_or_insert_with(|| e.to_string());
        }
    }
}

impl<DB: DrawingBackend> Canvas for BackendCanvas<DB> {
    fn size(&self) -> (f64, f64) {
        let (w, h) = self.backend.get_size();
        (f64::from(w) / self.scale, f64::from(h) / self.scale)
    }

    fn polyline(&mut self, points: &[(f64, f64)], color: Color, width: f64) {
        if points.len() < 2 {
            return;
        }
        let width_px = width * self.scale;
        if self.raster && width_px > 1.5 {
            self.thick_polyline(points, color, width_px);
            return;
        }
        let pts: Vec<(i32, i32)> = points.iter().map(|p| self.px(*p)).collect();
        let style = ShapeStyle {
            color: color.rgba(),
            filled: false,
            stroke_width: (width_px.round() as u32).max(1),
        };
        let r = self.backend.draw_path(pts, &style);
        self.keep(r);
    }

    fn polygon(&mut self, points: &[(f64, f64)], color: Color) {
        if points.len() < 3 {
            return;
        }
        let pts: Vec<(i32, i32)> = points.iter().map(|p| self.px(*p)).collect();
        let r = self.backend.fill_polygon(pts, &color.rgba());
        self.keep(r);
    }

    fn rect(
        &mut self,
        top_left: (f64, f64),
        bottom_right: (f64, f64),
        fill: Option<Color>,
        stroke: Option<(Color, f64)>,
    ) {
        let (a, b) = (self.px(top_left), self.px(bottom_right));
        if let Some(fill) = fill {
            let r = self.backend.draw_rect(a, b, &fill.rgba(), true);
            self.keep(r);
        }
        if let Some((color, width)) = stroke {
            let (x0, y0, x1, y1) = (top_left.0, top_left.1, bottom_right.0, bottom_right.1);
            self.polyline(
                &[(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)],
                color,
                width,
            );
        }
    }

    fn circle(&mut self, center: (f64, f64), radius: f64, fill: Color) {
        let c = self.px(center);
        let r = ((radius * self.scale).round() as u32).max(1);
        let res = self.backend.draw_circle(c, r, &fill.rgba(), true);
        self.keep(res);
    }

    fn text(&mut self, text: &str, at: TextPlacement, font: Font, color: Color) {
        let (h, v) = if at.vertical {
            (HPos::Center, VPos::Center)
        } else {
            (
                match at.h {
                    HAlign::Left => HPos::Left,
                    HAlign::Center => HPos::Center,
                    HAlign::Right => HPos::Right,
                },
                match at.v {
                    VAlign::Top => VPos::Top,
                    VAlign::Middle => VPos::Center,
                    VAlign::Bottom => VPos::Bottom,
                },
            )
        };
        let mut ts: TextStyle = ("sans-serif", font.size * self.scale, face(font))
            .into_font()
            .color(&color.rgba())
            .pos(Pos::new(h, v));
        if at.vertical {
            ts = ts.transform(FontTransform::Rotate270);
        }
        let p = self.px((at.x, at.y));
        let r = self.backend.draw_text(text, &ts, p);
        self.keep(r);
    }
}

/// One text drawn on a [`RecordingCanvas`], with the box it covers.
#[derive(Debug, Clone)]
pub struct DrawnText {
    /// The text.
    pub text: String,
    /// Its box: left, top, right, bottom.
    pub bounds: (f64, f64, f64, f64),
}

/// A canvas that draws nothing and records the texts, to test that a layout keeps its
/// labels apart and inside the picture.
#[derive(Debug, Default)]
pub struct RecordingCanvas {
    /// Width and height.
    pub size: (f64, f64),
    /// Every text, in drawing order.
    pub texts: Vec<DrawnText>,
    /// How many shapes (lines, polygons, rectangles, circles) were drawn.
    pub shapes: usize,
}

impl Canvas for RecordingCanvas {
    fn size(&self) -> (f64, f64) {
        self.size
    }
    fn polyline(&mut self, _: &[(f64, f64)], _: Color, _: f64) {
        self.shapes += 1;
    }
    fn polygon(&mut self, _: &[(f64, f64)], _: Color) {
        self.shapes += 1;
    }
    fn rect(&mut self, _: (f64, f64), _: (f64, f64), _: Option<Color>, _: Option<(Color, f64)>) {
        self.shapes += 1;
    }
    fn circle(&mut self, _: (f64, f64), _: f64, _: Color) {
        self.shapes += 1;
    }
    fn text(&mut self, text: &str, at: TextPlacement, font: Font, _: Color) {
        let (w, h) = text_size(text, font);
        let (w, h) = if at.vertical { (h, w) } else { (w, h) };
        let (h_align, v_align) = if at.vertical {
            (HAlign::Center, VAlign::Middle)
        } else {
            (at.h, at.v)
        };
        let left = match h_align {
            HAlign::Left => at.x,
            HAlign::Center => at.x - w / 2.0,
            HAlign::Right => at.x - w,
        };
        let top = match v_align {
            VAlign::Top => at.y,
            VAlign::Middle => at.y - h / 2.0,
            VAlign::Bottom => at.y - h,
        };
        self.texts.push(DrawnText {
            text: text.to_string(),
            bounds: (left, top, left + w, top + h),
        });
    }
}
