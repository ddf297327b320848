//! Lay out and draw a [`Figure`]: title, a grid of panels with shared axes, one legend on
//! the right, and a note under the grid.

use super::axes::{AxisMap, Frame};
use super::canvas::{Canvas, HAlign, TextPlacement, VAlign, text_size};
use super::theme::{
    INK, MUTED, Theme, WHITE, centered_lines, color_of, draw_marker, ellipsize, line_height,
    marker_of, wrap,
};
use crate::figure::Figure;

/// Where everything of a figure goes.
#[derive(Debug, Clone)]
pub struct CurvesLayout {
    /// Canvas width.
    pub width: f64,
    /// Canvas height.
    pub height: f64,
    title_lines: Vec<String>,
    subtitle_lines: Vec<String>,
    header: f64,
    cell_w: f64,
    cell_h: f64,
    grid_left: f64,
    legend_left: f64,
    legend_w: f64,
    /// The legend title, wrapped at its commas to the legend's width.
    legend_title_lines: Vec<String>,
    note_lines: Vec<String>,
    body_h: f64,
    x: AxisMap,
    y: AxisMap,
    margins: Margins,
}

#[derive(Debug, Clone, Copy)]
struct Margins {
    left: f64,
    top: f64,
    right: f64,
    bottom: f64,
}

const MARGIN: f64 = 18.0;
const LEGEND_MAX_LABEL: f64 = 320.0;

/// Lay out a figure whose panels are `panel_h` pixels tall (`aspect` × as wide).
pub fn layout(fig: &Figure, theme: &Theme, panel_h: f64, aspect: f64) -> CurvesLayout {
    let m = theme.px(MARGIN);
    let cell_h = panel_h.max(theme.px(160.0));
    let cell_w = cell_h * aspect;
    let x = AxisMap::new(fig.x.scale, fig.x.min, fig.x.max);
    let y = AxisMap::new(fig.y.scale, fig.y.min, fig.y.max);

    // Legend width: the widest entry or title, capped.
    let legend_w = if fig.legend.is_empty() {
        0.0
    } else {
        let widest = fig
            .legend
            .iter()
            .map(|l| text_size(l, theme.legend()).0)
            .chain(std::iter::once(
                text_size(&fig.legend_title, theme.legend_title()).0,
            ))
            .fold(0.0, f64::max)
            .min(theme.px(LEGEND_MAX_LABEL));
        widest + theme.px(60.0)
    };
    // Several --curve-by variables make a long title: wrapped, never cut short, since the
    // entries list a value for each.
    let legend_title_lines: Vec<String> = if fig.legend.is_empty() {
        Vec::new()
    } else {
        let w = legend_w - theme.px(20.0);
        wrap(&fig.legend_title, theme.legend_title(), w)
            .iter()
            .map(|line| ellipsize(line, theme.legend_title(), w))
            .collect()
    };
    let grid_w = cell_w * fig.cols as f64;
    let width = m + grid_w + legend_w + m;
    let text_w = width - 2.0 * m;
    let title_lines = wrap(&fig.title, theme.title(), text_w);
    let subtitle_lines = wrap(&fig.subtitle, theme.subtitle(), text_w);
    let header = m
        + title_lines.len() as f64 * line_height(theme.title())
        + subtitle_lines.len() as f64 * line_height(theme.subtitle())
        + theme.px(8.0);

    // Panel margins: room for the panel title, tick labels and axis titles.
    let has_panel_titles = fig.panels.iter().any(|p| !p.title.is_empty());
    let probe = Frame {
        left: 0.0,
        top: 0.0,
        right: cell_w,
        bottom: cell_h,
        x,
        y,
    };
    let (_, ty) = probe.tick_targets(theme);
    let tick_w = Frame::widest_y_label(&y, theme, ty);
    let axis_title_h = line_height(theme.axis_title());
    let margins = Margins {
        left: axis_title_h + theme.px(10.0) + tick_w + theme.px(8.0),
        top: if has_panel_titles {
            panel_title_height(fig, theme, cell_w) + theme.px(8.0)
        } else {
            theme.px(8.0)
        },
        right: theme.px(14.0),
        bottom: line_height(theme.tick()) + theme.px(10.0) + axis_title_h + theme.px(8.0),
    };
    let note_lines = wrap(&fig.note, theme.small(), text_w);
    let footer = if note_lines.is_empty() {
        m
    } else {
        note_lines.len() as f64 * line_height(theme.small()) + m
    };
    // A long legend makes the figure taller rather than spilling off it.
    let body_h = (cell_h * fig.rows as f64).max(
        margins.top
            + legend_height(fig.legend.len(), legend_title_lines.len(), theme)
            + theme.px(8.0),
    );
    let height = header + body_h + footer;
    CurvesLayout {
        width: width.ceil(),
        height: height.ceil(),
        title_lines,
        subtitle_lines,
        header,
        cell_w,
        cell_h,
        grid_left: m,
        legend_left: m + grid_w,
        legend_w,
        legend_title_lines,
        note_lines,
        body_h,
        x,
        y,
        margins,
    }
}

fn panel_title_height(fig: &Figure, theme: &Theme, cell_w: f64) -> f64 {
    fig.panels
        .iter()
        .map(|p| wrap(&p.title, theme.subtitle(), cell_w - theme.px(20.0)).len())
        .max()
        .unwrap_or(0) as f64
        * line_height(theme.subtitle())
}

/// Draw the figure on a canvas of the layout's size.
pub fn draw(fig: &Figure, l: &CurvesLayout, theme: &Theme, canvas: &mut dyn Canvas) {
    canvas.rect((0.0, 0.0), (l.width, l.height), Some(WHITE), None);
    let m = theme.px(MARGIN);
    let y = centered_lines(canvas, &l.title_lines, l.width / 2.0, m, theme.title(), INK);
    centered_lines(
        canvas,
        &l.subtitle_lines,
        l.width / 2.0,
        y,
        theme.subtitle(),
        MUTED,
    );

    for (i, panel) in fig.panels.iter().enumerate() {
        let (row, col) = (i / fig.cols, i % fig.cols);
        let cx = l.grid_left + col as f64 * l.cell_w;
        let cy = l.header + row as f64 * l.cell_h;
        let frame = Frame {
            left: cx + l.margins.left,
            top: cy + l.margins.top,
            right: cx + l.cell_w - l.margins.right,
            bottom: cy + l.cell_h - l.margins.bottom,
            x: l.x,
            y: l.y,
        };
        let titles = wrap(&panel.title, theme.subtitle(), l.cell_w - theme.px(20.0));
        let mid = (frame.left + frame.right) / 2.0;
        centered_lines(
            canvas,
            &titles,
            mid,
            cy + theme.px(4.0),
            theme.subtitle(),
            INK,
        );
        frame.draw(canvas, theme);
        if panel.curves.is_empty() {
            frame.note(canvas, theme, "no runs");
        }
        for curve in &panel.curves {
            let color = color_of(curve.style);
            let band_upper: Vec<(f64, f64)> = curve
                .points
                .iter()
                .filter_map(|p| frame.map(p.x, p.y.hi))
                .collect();
            if curve.points.iter().any(|p| p.y.hi > p.y.lo) && band_upper.len() >= 2 {
                let mut band = band_upper;
                band.extend(
                    curve
                        .points
                        .iter()
                        .rev()
                        .filter_map(|p| frame.map(p.x, p.y.lo)),
                );
                canvas.polygon(&band, color.alpha(0.2));
            }
            let line: Vec<(f64, f64)> = curve
                .points
                .iter()
                .filter_map(|p| frame.map(p.x, p.y.mean))
                .collect();
            canvas.polyline(&line, color, theme.px(2.2));
            for p in &line {
                draw_marker(canvas, marker_of(curve.style), *p, theme.px(4.5), color);
            }
        }
        // Axis titles on the outer panels only: the axes are shared.
        if row + 1 == fig.rows {
            canvas.text(
                &fig.x.title,
                TextPlacement::new(
                    (frame.left + frame.right) / 2.0,
                    cy + l.cell_h - theme.px(8.0),
                    HAlign::Center,
                    VAlign::Bottom,
                ),
                theme.axis_title(),
                INK,
            );
        }
        if col == 0 {
            canvas.text(
                &fig.y.title,
                TextPlacement::vertical(
                    cx + line_height(theme.axis_title()) / 2.0 + theme.px(4.0),
                    (frame.top + frame.bottom) / 2.0,
                ),
                theme.axis_title(),
                INK,
            );
        }
    }

    draw_legend(fig, l, theme, canvas);

    let mut ny = l.header + l.body_h + theme.px(4.0);
    for line in &l.note_lines {
        canvas.text(
            line,
            TextPlacement::new(l.grid_left, ny, HAlign::Left, VAlign::Top),
            theme.small(),
            MUTED,
        );
        ny += line_height(theme.small());
    }
}

fn draw_legend(fig: &Figure, l: &CurvesLayout, theme: &Theme, canvas: &mut dyn Canvas) {
    if fig.legend.is_empty() {
        return;
    }
    let x = l.legend_left + theme.px(10.0);
    let mut y = l.header + l.margins.top;
    for line in &l.legend_title_lines {
        canvas.text(
            line,
            TextPlacement::new(x, y, HAlign::Left, VAlign::Top),
            theme.legend_title(),
            INK,
        );
        y += line_height(theme.legend_title());
    }
    y += theme.px(4.0);
    let row_h = line_height(theme.legend()).max(theme.px(22.0));
    for (i, label) in fig.legend.iter().enumerate() {
        let color = color_of(i);
        let mid = y + row_h / 2.0;
        canvas.polyline(&[(x, mid), (x + theme.px(30.0), mid)], color, theme.px(2.2));
        draw_marker(
            canvas,
            marker_of(i),
            (x + theme.px(15.0), mid),
            theme.px(4.5),
            color,
        );
        canvas.text(
            &ellipsize(label, theme.legend(), l.legend_w - theme.px(60.0)),
            TextPlacement::new(x + theme.px(40.0), mid, HAlign::Left, VAlign::Middle),
            theme.legend(),
            INK,
        );
        y += row_h;
    }
}

/// How tall a legend of `n` entries under `title_lines` lines of title is (to grow the
/// figure when the legend is long).
pub fn legend_height(n: usize, title_lines: usize, theme: &Theme) -> f64 {
    if n == 0 {
        return 0.0;
    }
    title_lines as f64 * line_height(theme.legend_title())
        + theme.px(4.0)
        + n as f64 * line_height(theme.legend()).max(theme.px(22.0))
}
