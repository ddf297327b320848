//! Colours, fonts, markers and text wrapping shared by every chart: seaborn's "deep"
//! palette and white-grid look, so the charts feel familiar to users of vLLM's plots.

use super::canvas::{Canvas, Color, Font, HAlign, TextPlacement, VAlign, text_size};

/// seaborn's "deep" palette.
pub const PALETTE: [Color; 10] = [
    Color::hex(0x4C72B0),
    Color::hex(0xDD8452),
    Color::hex(0x55A868),
    Color::hex(0xC44E52),
    Color::hex(0x8172B3),
    Color::hex(0x937860),
    Color::hex(0xDA8BC3),
    Color::hex(0x8C8C8C),
    Color::hex(0xCCB974),
    Color::hex(0x64B5CD),
];
/// Text.
pub const INK: Color = Color::hex(0x262626);
/// Secondary text (subtitles, notes).
pub const MUTED: Color = Color::hex(0x595959);
/// Grid lines.
pub const GRID: Color = Color::hex(0xE3E3E3);
/// The plot area's border.
pub const FRAME: Color = Color::hex(0xB0B0B0);
/// Page background.
pub const WHITE: Color = Color::hex(0xFFFFFF);

/// Sizes for one output resolution: every length is multiplied by `s` (dpi / 100).
#[derive(Debug, Clone, Copy)]
pub struct Theme {
    /// Pixels per layout unit.
    pub s: f64,
}

impl Theme {
    /// A theme for `dpi` dots per inch (100 is the base size).
    pub fn for_dpi(dpi: f64) -> Self {
        Theme {
            s: (dpi / 100.0).max(0.25),
        }
    }
    /// A length in pixels.
    pub fn px(&self, v: f64) -> f64 {
        v * self.s
    }
    /// The figure title.
    pub fn title(&self) -> Font {
        Font {
            size: 22.0 * self.s,
            bold: true,
        }
    }
    /// Subtitles and panel titles.
    pub fn subtitle(&self) -> Font {
        Font {
            size: 17.0 * self.s,
            bold: false,
        }
    }
    /// Axis titles.
    pub fn axis_title(&self) -> Font {
        Font {
            size: 17.0 * self.s,
            bold: false,
        }
    }
    /// Tick labels.
    pub fn tick(&self) -> Font {
        Font {
            size: 15.0 * self.s,
            bold: false,
        }
    }
    /// Legend entries.
    pub fn legend(&self) -> Font {
        Font {
            size: 16.0 * self.s,
            bold: false,
        }
    }
    /// Legend title.
    pub fn legend_title(&self) -> Font {
        Font {
            size: 16.0 * self.s,
            bold: true,
        }
    }
    /// Notes and point labels.
    pub fn small(&self) -> Font {
        Font {
            size: 15.0 * self.s,
            bold: false,
        }
    }
}

/// The colour of curve style `i`.
pub fn color_of(i: usize) -> Color {
    PALETTE[i % PALETTE.len()]
}

/// Marker shapes, cycled so that curves differ even where colours repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    /// ●
    Circle,
    /// ■
    Square,
    /// ▲
    Triangle,
    /// ◆
    Diamond,
    /// ▼
    Down,
}

/// The marker of curve style `i`.
pub fn marker_of(i: usize) -> Marker {
    const ALL: [Marker; 5] = [
        Marker::Circle,
        Marker::Square,
        Marker::Triangle,
        Marker::Diamond,
        Marker::Down,
    ];
    ALL[(i + i / PALETTE.len()) % ALL.len()]
}

/// Draw a marker with a thin white edge, as seaborn does.
pub fn draw_marker(canvas: &mut dyn Canvas, m: Marker, c: (f64, f64), r: f64, color: Color) {
    let edge = r * 0.25;
    shape(canvas, m, c, r + edge, WHITE);
    shape(canvas, m, c, r, color);
}

fn shape(canvas: &mut dyn Canvas, m: Marker, (x, y): (f64, f64), r: f64, color: Color) {
    match m {
        Marker::Circle => canvas.circle((x, y), r, color),
        Marker::Square => {
            let h = r * 0.9;
            canvas.rect((x - h, y - h), (x + h, y + h), Some(color), None);
        }
        Marker::Triangle => canvas.polygon(
            &[
                (x, y - r * 1.2),
                (x + r * 1.1, y + r * 0.8),
                (x - r * 1.1, y + r * 0.8),
            ],
            color,
        ),
        Marker::Down => canvas.polygon(
            &[
                (x, y + r * 1.2),
                (x + r * 1.1, y - r * 0.8),
                (x - r * 1.1, y - r * 0.8),
            ],
            color,
        ),
        Marker::Diamond => canvas.polygon(
            &[(x, y - r * 1.25), (x + r, y), (x, y + r * 1.25), (x - r, y)],
            color,
        ),
    }
}

/// Break `text` into lines no wider than `max_width`, at ", " and spaces; a word wider
/// than the line stays whole.
pub fn wrap(text: &str, font: Font, max_width: f64) -> Vec<String> {
    if text.is_empty() {
        return Vec::new();
    }
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let candidate = if line.is_empty() {
            word.to_string()
        } else {
            format!("{line} {word}")
        };
        if !line.is_empty() && text_size(&candidate, font).0 > max_width {
            lines.push(std::mem::replace(&mut line, word.to_string()));
        } else {
            line = candidate;
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Shorten `text` with "…" until it fits `max_width`.
pub fn ellipsize(text: &str, font: Font, max_width: f64) -> String {
    if text_size(text, font).0 <= max_width {
        return text.to_string();
    }
    let chars: Vec<char> = text.chars().collect();
    let mut n = chars.len();
    while n > 1 {
        n -= 1;
        let t: String = chars[..n].iter().collect::<String>() + "…";
        if text_size(&t, font).0 <= max_width {
            return t;
        }
    }
    "…".to_string()
}

/// The height of one line of text in `font`, with leading.
pub fn line_height(font: Font) -> f64 {
    font.size / 1.24 * 1.3
}

/// Write lines centred on `x`, one under the other from `top`; returns the y below them.
pub fn centered_lines(
    canvas: &mut dyn Canvas,
    lines: &[String],
    x: f64,
    top: f64,
    font: Font,
    color: Color,
) -> f64 {
    let mut y = top;
    for line in lines {
        canvas.text(
            line,
            TextPlacement::new(x, y, HAlign::Center, VAlign::Top),
            font,
            color,
        );
        y += line_height(font);
    }
    y
}
