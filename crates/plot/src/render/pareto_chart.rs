//! Lay out and draw a [`ParetoChart`]: every run a grey dot, the frontier a line with each
//! point labelled (labels placed where they overlap least), and a legend in the emptiest
//! corner.

use super::axes::{AxisMap, Frame};
use super::canvas::{Canvas, Color, HAlign, TextPlacement, VAlign, text_size};
use super::theme::{
    INK, MUTED, Marker, PALETTE, Theme, WHITE, centered_lines, draw_marker, line_height, wrap,
};
use crate::pareto::ParetoChart;
use crate::scale::Scale;

const GREY: Color = Color::hex(0x7F7F7F);
const FRONT: Color = PALETTE[0];

/// Where everything of the chart goes.
#[derive(Debug, Clone)]
pub struct ParetoLayout {
    /// Canvas width.
    pub width: f64,
    /// Canvas height.
    pub height: f64,
    title_lines: Vec<String>,
    subtitle_lines: Vec<String>,
    frame: Frame,
}

/// A text box placed beside a frontier point.
#[derive(Debug, Clone)]
pub struct PlacedLabel {
    /// Its lines.
    pub lines: Vec<String>,
    /// The point it labels (pixels).
    pub point: (f64, f64),
    /// left, top, right, bottom.
    pub bounds: (f64, f64, f64, f64),
}

/// Lay out the chart with a plot area about `plot_h` pixels tall.
pub fn layout(chart: &ParetoChart, theme: &Theme, plot_h: f64) -> ParetoLayout {
    let m = theme.px(18.0);
    let plot_h = plot_h.max(theme.px(200.0));
    let plot_w = plot_h * 1.45;
    let (xs, ys): (Vec<f64>, Vec<f64>) = chart
        .points
        .iter()
        .filter(|p| p.x.is_finite() && p.y.is_finite())
        .map(|p| (p.x, p.y))
        .unzip();
    let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = |v: &[f64]| v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (x0, x1, y0, y1) = if xs.is_empty() {
        (f64::NAN, f64::NAN, f64::NAN, f64::NAN)
    } else {
        (min(&xs), max(&xs), min(&ys), max(&ys))
    };
    let x = AxisMap::new(Scale::Linear, x0, x1);
    let mut y = AxisMap::new(Scale::Linear, y0, y1);
    // Head room for the labels above the top frontier points.
    y.t1 += (y.t1 - y.t0) * 0.06;
    let probe = Frame {
        left: 0.0,
        top: 0.0,
        right: plot_w,
        bottom: plot_h,
        x,
        y,
    };
    let (_, ty) = probe.tick_targets(theme);
    let tick_w = Frame::widest_y_label(&y, theme, ty);
    let left = m + line_height(theme.axis_title()) + theme.px(10.0) + tick_w + theme.px(8.0);
    let width = left + plot_w + theme.px(40.0);
    let text_w = width - 2.0 * m;
    let title_lines = wrap(&chart.title, theme.title(), text_w);
    let subtitle_lines = wrap(&chart.subtitle, theme.subtitle(), text_w);
    let top = m
        + title_lines.len() as f64 * line_height(theme.title())
        + subtitle_lines.len() as f64 * line_height(theme.subtitle())
        + theme.px(12.0);
    let bottom = top + plot_h;
    let height =
        bottom + line_height(theme.tick()) + theme.px(10.0) + line_height(theme.axis_title()) + m;
    ParetoLayout {
        width: width.ceil(),
        height: height.ceil(),
        title_lines,
        subtitle_lines,
        frame: Frame {
            left,
            top,
            right: left + plot_w,
            bottom,
            x,
            y,
        },
    }
}

/// Choose where each frontier label goes: of the spots around its point, the one that
/// overlaps other labels and frontier markers the least, inside the plot area, nearest.
/// A greedy pass from left to right, then a few passes that move each label given all
/// the others.
pub fn place_labels(chart: &ParetoChart, frame: &Frame, theme: &Theme) -> Vec<PlacedLabel> {
    let font = theme.small();
    let markers: Vec<(f64, f64)> = chart
        .frontier
        .iter()
        .filter_map(|&i| frame.map(chart.points[i].x, chart.points[i].y))
        .collect();
    let mut items: Vec<LabelItem> = Vec::new();
    for &i in &chart.frontier {
        let p = &chart.points[i];
        if p.label.is_empty() {
            continue;
        }
        let Some(at) = frame.map(p.x, p.y) else {
            continue;
        };
        // Tied runs (same point, same label) are labelled once.
        let twin = chart.frontier.iter().take_while(|&&j| j != i).any(|&j| {
            let q = &chart.points[j];
            q.x == p.x && q.y == p.y && q.label == p.label
        });
        if twin {
            continue;
        }
        let w = p
            .label
            .iter()
            .map(|t| text_size(t, font).0)
            .fold(0.0, f64::max);
        let h = line_height(font) * p.label.len() as f64;
        items.push(LabelItem {
            lines: p.label.clone(),
            w,
            h,
            at,
        });
    }
    let ctx = SpotContext {
        frame,
        markers: &markers,
        marker_r: theme.px(7.0),
        theme,
    };
    let mut boxes: Vec<(f64, f64, f64, f64)> = Vec::new();
    for item in &items {
        let b = ctx.best(item.w, item.h, item.at, &boxes);
        boxes.push(b);
    }
    for _ in 0..3 {
        for k in 0..boxes.len() {
            let others: Vec<_> = boxes
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != k)
                .map(|(_, b)| *b)
                .collect();
            boxes[k] = ctx.best(items[k].w, items[k].h, items[k].at, &others);
        }
    }
    items
        .into_iter()
        .zip(boxes)
        .map(|(item, bounds)| PlacedLabel {
            lines: item.lines,
            point: item.at,
            bounds,
        })
        .collect()
}

/// A label to place: its lines, size, and the point it belongs to.
struct LabelItem {
    lines: Vec<String>,
    w: f64,
    h: f64,
    at: (f64, f64),
}

struct SpotContext<'a> {
    frame: &'a Frame,
    markers: &'a [(f64, f64)],
    marker_r: f64,
    theme: &'a Theme,
}

impl SpotContext<'_> {
    /// The best box of size `w`×`h` near `(px, py)` given boxes already placed.
    fn best(
        &self,
        w: f64,
        h: f64,
        (px, py): (f64, f64),
        placed: &[(f64, f64, f64, f64)],
    ) -> (f64, f64, f64, f64) {
        let f = self.frame;
        let r = self.marker_r;
        let mut best = (
            f64::INFINITY,
            bounds(px, py, w, h, HAlign::Left, VAlign::Top),
        );
        for (k, d) in [8.0, 22.0, 40.0, 64.0, 96.0].iter().enumerate() {
            let d = self.theme.px(*d);
            let near = k as f64;
            for (x, y, ha, va, extra) in [
                (px + d, py - d, HAlign::Left, VAlign::Bottom, 0.0),
                (px + d, py + d, HAlign::Left, VAlign::Top, 0.0),
                (px - d, py - d, HAlign::Right, VAlign::Bottom, 0.0),
                (px - d, py + d, HAlign::Right, VAlign::Top, 0.0),
                (px + d, py, HAlign::Left, VAlign::Middle, 0.2),
                (px - d, py, HAlign::Right, VAlign::Middle, 0.2),
                (px, py - d * 1.5, HAlign::Center, VAlign::Bottom, 0.5),
                (px, py + d * 1.5, HAlign::Center, VAlign::Top, 0.5),
            ] {
                let b = bounds(x, y, w, h, ha, va);
                let mut cost = (near + extra) * area(b) * 0.05;
                for other in placed {
                    cost += 10.0 * overlap(b, *other);
                }
                for m in self.markers {
                    cost += 4.0 * overlap(b, (m.0 - r, m.1 - r, m.0 + r, m.1 + r));
                }
                let inside = overlap(b, (f.left, f.top, f.right, f.bottom));
                cost += 1000.0 * (area(b) - inside);
                if cost < best.0 {
                    best = (cost, b);
                }
            }
        }
        best.1
    }
}

fn bounds(x: f64, y: f64, w: f64, h: f64, ha: HAlign, va: VAlign) -> (f64, f64, f64, f64) {
    let left = match ha {
        HAlign::Left => x,
        HAlign::Center => x - w / 2.0,
        HAlign::Right => x - w,
    };
    let top = match va {
        VAlign::Top => y,
        VAlign::Middle => y - h / 2.0,
        VAlign::Bottom => y - h,
    };
    (left, top, left + w, top + h)
}

fn area(b: (f64, f64, f64, f64)) -> f64 {
    (b.2 - b.0).max(0.0) * (b.3 - b.1).max(0.0)
}

fn overlap(a: (f64, f64, f64, f64), b: (f64, f64, f64, f64)) -> f64 {
    area((a.0.max(b.0), a.1.max(b.1), a.2.min(b.2), a.3.min(b.3)))
}

/// Draw the chart on a canvas of the layout's size.
pub fn draw(chart: &ParetoChart, l: &ParetoLayout, theme: &Theme, canvas: &mut dyn Canvas) {
    canvas.rect((0.0, 0.0), (l.width, l.height), Some(WHITE), None);
    let m = theme.px(18.0);
    let y = centered_lines(canvas, &l.title_lines, l.width / 2.0, m, theme.title(), INK);
    centered_lines(
        canvas,
        &l.subtitle_lines,
        l.width / 2.0,
        y,
        theme.subtitle(),
        MUTED,
    );
    let f = l.frame;
    f.draw(canvas, theme);
    for p in &chart.points {
        if let Some(c) = f.map(p.x, p.y) {
            canvas.circle(c, theme.px(4.0), GREY.alpha(0.55));
        }
    }
    // Labels first, then the frontier on top of their backgrounds, so no marker hides.
    for label in place_labels(chart, &f, theme) {
        let pad = theme.px(2.0);
        let b = label.bounds;
        // A leader line when the label had to move away from its point.
        let (px, py) = label.point;
        let nearest = (px.clamp(b.0, b.2), py.clamp(b.1, b.3));
        if (nearest.0 - px).hypot(nearest.1 - py) > theme.px(14.0) {
            canvas.polyline(&[(px, py), nearest], MUTED.alpha(0.7), theme.px(1.0));
        }
        canvas.rect(
            (b.0 - pad, b.1 - pad),
            (b.2 + pad, b.3 + pad),
            Some(WHITE.alpha(0.8)),
            None,
        );
        // Lines are left-aligned inside the chosen box.
        for (k, line) in label.lines.iter().enumerate() {
            canvas.text(
                line,
                TextPlacement::new(
                    b.0,
                    b.1 + k as f64 * line_height(theme.small()),
                    HAlign::Left,
                    VAlign::Top,
                ),
                theme.small(),
                INK,
            );
        }
    }
    let line: Vec<(f64, f64)> = chart
        .frontier
        .iter()
        .filter_map(|&i| f.map(chart.points[i].x, chart.points[i].y))
        .collect();
    canvas.polyline(&line, FRONT, theme.px(2.5));
    for c in &line {
        draw_marker(canvas, Marker::Circle, *c, theme.px(5.0), FRONT);
    }
    if chart.points.is_empty() {
        f.note(canvas, theme, "no runs with a user count");
    }
    canvas.text(
        &chart.x_title,
        TextPlacement::new(
            (f.left + f.right) / 2.0,
            l.height - theme.px(18.0),
            HAlign::Center,
            VAlign::Bottom,
        ),
        theme.axis_title(),
        INK,
    );
    canvas.text(
        &chart.y_title,
        TextPlacement::vertical(
            theme.px(18.0) + line_height(theme.axis_title()) / 2.0,
            (f.top + f.bottom) / 2.0,
        ),
        theme.axis_title(),
        INK,
    );
    draw_legend(chart, &f, theme, canvas);
}

/// The legend goes in the corner of the plot area with the fewest points.
fn draw_legend(chart: &ParetoChart, f: &Frame, theme: &Theme, canvas: &mut dyn Canvas) {
    let font = theme.legend();
    let entries = [
        format!("All runs ({})", chart.points.len()),
        format!("Pareto frontier ({})", chart.frontier.len()),
    ];
    let row_h = line_height(font).max(theme.px(22.0));
    let w = entries
        .iter()
        .map(|e| text_size(e, font).0)
        .fold(0.0, f64::max)
        + theme.px(56.0);
    let h = row_h * 2.0 + theme.px(12.0);
    let inset = theme.px(10.0);
    let corners = [
        (f.right - inset - w, f.top + inset),
        (f.left + inset, f.top + inset),
        (f.right - inset - w, f.bottom - inset - h),
        (f.left + inset, f.bottom - inset - h),
    ];
    let crowding = |(x, y): (f64, f64)| {
        chart
            .points
            .iter()
            .filter_map(|p| f.map(p.x, p.y))
            .filter(|(px, py)| *px >= x && *px <= x + w && *py >= y && *py <= y + h)
            .count()
    };
    let (lx, ly) = corners
        .iter()
        .copied()
        .min_by_key(|c| crowding(*c))
        .unwrap_or(corners[0]);
    canvas.rect(
        (lx, ly),
        (lx + w, ly + h),
        Some(WHITE.alpha(0.9)),
        Some((Color::hex(0xCCCCCC), theme.px(1.0))),
    );
    for (i, entry) in entries.iter().enumerate() {
        let mid = ly + theme.px(6.0) + row_h * (i as f64 + 0.5);
        let sx = lx + theme.px(10.0);
        if i == 0 {
            canvas.circle((sx + theme.px(15.0), mid), theme.px(4.0), GREY.alpha(0.55));
        } else {
            canvas.polyline(
                &[(sx, mid), (sx + theme.px(30.0), mid)],
                FRONT,
                theme.px(2.5),
            );
            draw_marker(
                canvas,
                Marker::Circle,
                (sx + theme.px(15.0), mid),
                theme.px(5.0),
                FRONT,
            );
        }
        canvas.text(
            entry,
            TextPlacement::new(sx + theme.px(40.0), mid, HAlign::Left, VAlign::Middle),
            font,
            INK,
        );
    }
}

/// The plot area, for tests of label placement.
pub fn frame_of(l: &ParetoLayout) -> Frame {
    l.frame
}
