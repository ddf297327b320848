//! One plot area: how data maps to pixels on each axis, and its grid, border and tick
//! labels.

use super::canvas::{Canvas, HAlign, TextPlacement, VAlign, text_size};
use super::theme::{FRAME, GRID, INK, MUTED, Theme, WHITE};
use crate::scale::{Scale, tick_labels};

/// One axis: a scale and the span it shows, in scaled units.
#[derive(Debug, Clone, Copy)]
pub struct AxisMap {
    /// The scale.
    pub scale: Scale,
    /// Scaled value at the start.
    pub t0: f64,
    /// Scaled value at the end.
    pub t1: f64,
}

impl AxisMap {
    /// An axis showing data from `min` to `max` (data units) with 5% room on each side.
    /// NaN bounds (nothing to show) give 0–1.
    pub fn new(scale: Scale, min: f64, max: f64) -> Self {
        let lo = scale.forward(min);
        let hi = scale.forward(max);
        let (mut t0, mut t1) = match (lo, hi) {
            (Some(a), Some(b)) => (a, b),
            _ => (0.0, 1.0),
        };
        if t1 - t0 <= f64::EPSILON * t0.abs().max(1.0) {
            let pad = if scale == Scale::Log {
                0.5
            } else {
                (t0.abs() * 0.1).max(1.0)
            };
            t0 -= pad;
            t1 += pad;
        }
        let pad = (t1 - t0) * 0.05;
        t0 -= pad;
        t1 += pad;
        if scale == Scale::Sqrt {
            t0 = t0.max(0.0);
        }
        AxisMap { scale, t0, t1 }
    }

    /// The fraction (0–1) along the axis of a data value.
    pub fn frac(&self, v: f64) -> Option<f64> {
        self.scale
            .forward(v)
            .map(|t| (t - self.t0) / (self.t1 - self.t0))
    }

    /// The data values at the axis' ends.
    pub fn data_range(&self) -> (f64, f64) {
        (self.scale.inverse(self.t0), self.scale.inverse(self.t1))
    }

    /// Ticks inside the axis: `(data value, label)`.
    pub fn ticks(&self, target: usize) -> Vec<(f64, String)> {
        let (lo, hi) = self.data_range();
        let inside = |target: usize| -> Vec<f64> {
            self.scale
                .ticks(lo, hi, target)
                .into_iter()
                .filter(|v| {
                    self.frac(*v)
                        .is_some_and(|f| (-1e-9..=1.0 + 1e-9).contains(&f))
                })
                .collect()
        };
        // A narrow axis can round to a single tick; ask for more until there are three.
        let mut values = inside(target);
        for more in 1..=4 {
            if values.len() >= 3 {
                break;
            }
            let denser = inside(target + more);
            if denser.len() > values.len() {
                values = denser;
            }
        }
        let labels = tick_labels(self.scale, &values);
        values.into_iter().zip(labels).collect()
    }
}

/// A plot area on the canvas with its two axes.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    /// Left edge (pixels).
    pub left: f64,
    /// Top edge.
    pub top: f64,
    /// Right edge.
    pub right: f64,
    /// Bottom edge.
    pub bottom: f64,
    /// x axis.
    pub x: AxisMap,
    /// y axis.
    pub y: AxisMap,
}

impl Frame {
    /// Pixel position of a data point, `None` if a scale cannot show it.
    pub fn map(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        let fx = self.x.frac(x)?;
        let fy = self.y.frac(y)?;
        Some((
            self.left + fx * (self.right - self.left),
            self.bottom - fy * (self.bottom - self.top),
        ))
    }

    /// How many ticks suit the frame's width and height.
    pub fn tick_targets(&self, theme: &Theme) -> (usize, usize) {
        let w = (self.right - self.left) / theme.px(110.0);
        let h = (self.bottom - self.top) / theme.px(70.0);
        (w.clamp(2.0, 8.0) as usize, h.clamp(2.0, 8.0) as usize)
    }

    /// The widest y tick label, to size the left margin before laying out.
    pub fn widest_y_label(y: &AxisMap, theme: &Theme, target: usize) -> f64 {
        y.ticks(target)
            .iter()
            .map(|(_, l)| text_size(l, theme.tick()).0)
            .fold(0.0, f64::max)
    }

    /// A short note in the middle of the plot area ("no runs").
    pub fn note(&self, canvas: &mut dyn Canvas, theme: &Theme, text: &str) {
        canvas.text(
            text,
            TextPlacement::new(
                (self.left + self.right) / 2.0,
                (self.top + self.bottom) / 2.0,
                HAlign::Center,
                VAlign::Middle,
            ),
            theme.small(),
            MUTED,
        );
    }

    /// White background, grid lines at the ticks, the border and the tick labels (x below,
    /// y to the left).
    pub fn draw(&self, canvas: &mut dyn Canvas, theme: &Theme) {
        canvas.rect(
            (self.left, self.top),
            (self.right, self.bottom),
            Some(WHITE),
            None,
        );
        let (tx, ty) = self.tick_targets(theme);
        let gap = theme.px(6.0);
        for (v, label) in self.x.ticks(tx) {
            let Some(f) = self.x.frac(v) else { continue };
            let px = self.left + f * (self.right - self.left);
            canvas.polyline(&[(px, self.top), (px, self.bottom)], GRID, theme.px(1.0));
            canvas.text(
                &label,
                TextPlacement::new(px, self.bottom + gap, HAlign::Center, VAlign::Top),
                theme.tick(),
                INK,
            );
        }
        for (v, label) in self.y.ticks(ty) {
            let Some(f) = self.y.frac(v) else { continue };
            let py = self.bottom - f * (self.bottom - self.top);
            canvas.polyline(&[(self.left, py), (self.right, py)], GRID, theme.px(1.0));
            canvas.text(
                &label,
                TextPlacement::new(self.left - gap, py, HAlign::Right, VAlign::Middle),
                theme.tick(),
                INK,
            );
        }
        canvas.rect(
            (self.left, self.top),
            (self.right, self.bottom),
            None,
            Some((FRAME, theme.px(1.0))),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_pads_and_maps() {
        let a = AxisMap::new(Scale::Linear, 0.0, 100.0);
        assert!((a.t0 + 5.0).abs() < 1e-9 && (a.t1 - 105.0).abs() < 1e-9);
        assert!((a.frac(50.0).unwrap() - 0.5).abs() < 1e-9);
        let flat = AxisMap::new(Scale::Linear, 7.0, 7.0);
        assert!(flat.t0 < 7.0 && flat.t1 > 7.0);
        let log = AxisMap::new(Scale::Log, 1.0, 1000.0);
        assert!((log.frac(10f64.powf(1.5)).unwrap() - 0.5).abs() < 1e-9);
        assert_eq!(log.frac(0.0), None);
        let sqrt = AxisMap::new(Scale::Sqrt, 0.0, 100.0);
        assert_eq!(sqrt.t0, 0.0);
        let none = AxisMap::new(Scale::Linear, f64::NAN, f64::NAN);
        assert!(none.t0 < 0.0 && none.t1 > 1.0);
    }

    #[test]
    fn ticks_stay_inside_the_axis() {
        let a = AxisMap::new(Scale::Linear, 3.0, 97.0);
        let t = a.ticks(5);
        assert!(!t.is_empty());
        let (lo, hi) = a.data_range();
        assert!(t.iter().all(|(v, _)| *v >= lo && *v <= hi));
        let log = AxisMap::new(Scale::Log, 2.0, 5000.0);
        let labels: Vec<String> = log.ticks(6).into_iter().map(|(_, l)| l).collect();
        assert_eq!(labels, ["10", "100", "1k"]);
        // 0.25–16.75 asked for two ticks would give only "10".
        let narrow = AxisMap::new(Scale::Linear, 1.0, 16.0);
        let labels: Vec<String> = narrow.ticks(2).into_iter().map(|(_, l)| l).collect();
        assert!(labels.len() >= 3, "{labels:?}");
    }

    #[test]
    fn frame_maps_corners() {
        let f = Frame {
            left: 100.0,
            top: 10.0,
            right: 300.0,
            bottom: 210.0,
            x: AxisMap {
                scale: Scale::Linear,
                t0: 0.0,
                t1: 10.0,
            },
            y: AxisMap {
                scale: Scale::Linear,
                t0: 0.0,
                t1: 1.0,
            },
        };
        assert_eq!(f.map(0.0, 0.0), Some((100.0, 210.0)));
        assert_eq!(f.map(10.0, 1.0), Some((300.0, 10.0)));
    }
}
