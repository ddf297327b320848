//! Axis scales (`--scale-x`, `--scale-y`: linear, log, sqrt), the ticks to draw on them and
//! how tick values are written.

use std::fmt;
use std::str::FromStr;

/// How values map onto an axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    /// Evenly spaced values.
    #[default]
    Linear,
    /// Base-10 logarithm; values ≤ 0 cannot be shown.
    Log,
    /// Square root; values < 0 cannot be shown.
    Sqrt,
}

impl Scale {
    /// Every scale, for help texts.
    pub const ALL: [Scale; 3] = [Scale::Linear, Scale::Log, Scale::Sqrt];

    /// The scale's name as written on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Scale::Linear => "linear",
            Scale::Log => "log",
            Scale::Sqrt => "sqrt",
        }
    }

    /// Where `v` lies on the axis; `None` if the scale cannot show it (or it is not
    /// finite).
    pub fn forward(self, v: f64) -> Option<f64> {
        if !v.is_finite() {
            return None;
        }
        match self {
            Scale::Linear => Some(v),
            Scale::Log => (v > 0.0).then(|| v.log10()),
            Scale::Sqrt => (v >= 0.0).then(|| v.sqrt()),
        }
    }

    /// The value at axis position `t` (the inverse of [`Scale::forward`]).
    pub fn inverse(self, t: f64) -> f64 {
        match self {
            Scale::Linear => t,
            Scale::Log => 10f64.powf(t),
            Scale::Sqrt => t * t,
        }
    }

    /// Tick values (in data units) for data between `lo` and `hi` (data units), about
    /// `target` of them.
    pub fn ticks(self, lo: f64, hi: f64, target: usize) -> Vec<f64> {
        match self {
            Scale::Linear => nice_ticks(lo, hi, target),
            Scale::Sqrt => sqrt_ticks(lo.max(0.0), hi, target),
            Scale::Log => log_ticks(lo, hi, target),
        }
    }
}

impl fmt::Display for Scale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scale {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scale::ALL
            .into_iter()
            .find(|sc| sc.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("unknown scale '{s}'; expected one of linear, log, sqrt"))
    }
}

/// "Nice" round tick values covering `[lo, hi]`: steps of 1, 2, 2.5 or 5 × 10^k.
pub fn nice_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) {
        return Vec::new();
    }
    let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
    if hi - lo < f64::EPSILON * hi.abs().max(1.0) {
        return vec![lo];
    }
    let step = nice_step((hi - lo) / target.max(1) as f64);
    let first = (lo / step - 1e-9).ceil();
    let last = (hi / step + 1e-9).floor();
    let count = (last - first) as i64;
    // Round away floating noise such as 0.30000000000000004.
    let digits = (2 - step.log10().floor() as i32).clamp(0, 15);
    let f = 10f64.powi(digits);
    (0..=count.max(0))
        .map(|i| ((first + i as f64) * step * f).round() / f)
        .map(|v| if v == 0.0 { 0.0 } else { v })
        .collect()
}

/// Round ticks for a sqrt axis. Evenly spaced values crowd the top of a sqrt axis and leave
/// its bottom bare (430 to 7,200 ms: ticks from 1,000 only), so round ticks are added
/// below the first one while the bare stretch is a large share of the axis.
fn sqrt_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    let mut ticks: Vec<f64> = nice_ticks(lo, hi, target)
        .into_iter()
        .filter(|v| *v >= 0.0)
        .collect();
    let span = hi.sqrt() - lo.sqrt();
    for _ in 0..3 {
        let Some(&first) = ticks.first() else { break };
        if span.is_nan() || span <= 0.0 || first.sqrt() - lo.sqrt() <= span / target.max(1) as f64 {
            break;
        }
        let below: Vec<f64> = nice_ticks(lo, first, 2)
            .into_iter()
            .filter(|v| *v >= 0.0 && *v < first)
            .collect();
        if below.is_empty() {
            break;
        }
        ticks.splice(0..0, below);
    }
    ticks
}

fn nice_step(raw: f64) -> f64 {
    let mag = 10f64.powf(raw.log10().floor());
    let frac = raw / mag;
    let nice = if frac <= 1.0 {
        1.0
    } else if frac <= 2.0 {
        2.0
    } else if frac <= 2.5 {
        2.5
    } else if frac <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

fn log_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    if !(lo > 0.0 && hi > 0.0 && lo.is_finite() && hi.is_finite()) {
        return Vec::new();
    }
    let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
    let (a, b) = (lo.log10(), hi.log10());
    let decades = b.floor() as i32 - a.ceil() as i32 + 1;
    let in_range = |v: &f64| *v >= lo * (1.0 - 1e-9) && *v <= hi * (1.0 + 1e-9);
    let multiples: &[f64] = if decades >= 3 {
        &[1.0]
    } else if decades >= 1 {
        &[1.0, 2.0, 5.0]
    } else {
        &[]
    };
    let ticks_with = |multiples: &[f64]| {
        let mut ticks: Vec<f64> = Vec::new();
        for k in (a.floor() as i32)..=(b.ceil() as i32) {
            for m in multiples {
                // Divided for negative powers: 6 / 10 is 0.6, 6 × 0.1 is not.
                ticks.push(if k >= 0 {
                    m * 10f64.powi(k)
                } else {
                    m / 10f64.powi(-k)
                });
            }
        }
        ticks.retain(in_range);
        ticks
    };
    let mut ticks = ticks_with(multiples);
    if ticks.len() < 3 && decades <= 1 {
        // About one decade (100 to 450 ms): 1-2-5 leaves two labels; every digit reads.
        ticks = ticks_with(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
    }
    if decades > target as i32 * 2 {
        // Too many decades: keep every other one.
        let stride = (decades as usize).div_ceil(target.max(1));
        ticks = ticks.into_iter().step_by(stride).collect();
    }
    if ticks.len() < 2 {
        // Less than a decade: round ticks on a linear grid still read well.
        return nice_ticks(lo, hi, target.min(5))
            .into_iter()
            .filter(|v| *v > 0.0)
            .collect();
    }
    ticks
}

/// Tick labels for one axis. Linear and sqrt axes share one unit and precision across
/// their ticks (`0`, `50k`, `100k`); log axes write each decade on its own (`1`, `10`,
/// `1k`, `10k`).
pub fn tick_labels(scale: Scale, ticks: &[f64]) -> Vec<String> {
    match scale {
        Scale::Log => ticks.iter().map(|v| format_si(*v)).collect(),
        Scale::Linear | Scale::Sqrt => format_ticks(ticks),
    }
}

/// Labels for evenly spaced ticks: one SI unit (k, M, G) chosen from the largest value,
/// and the fewest decimals that write every tick exactly.
pub fn format_ticks(ticks: &[f64]) -> Vec<String> {
    let max = ticks.iter().fold(0f64, |m, v| m.max(v.abs()));
    let (div, suffix) = si_unit(max);
    let scaled: Vec<f64> = ticks.iter().map(|v| v / div).collect();
    let decimals = decimals_for(&scaled);
    scaled
        .iter()
        .map(|v| {
            if *v == 0.0 {
                "0".to_string()
            } else {
                format!("{}{suffix}", trim_number(*v, decimals))
            }
        })
        .collect()
}

fn si_unit(max: f64) -> (f64, &'static str) {
    if max >= 1e9 {
        (1e9, "G")
    } else if max >= 1e6 {
        (1e6, "M")
    } else if max >= 1e5 {
        (1e3, "k")
    } else {
        (1.0, "")
    }
}

/// One value with an SI suffix when that reads better: `1`, `20`, `1k`, `2.5M`, `0.001`.
pub fn format_si(v: f64) -> String {
    let a = v.abs();
    let (div, suffix) = if a >= 1e9 {
        (1e9, "G")
    } else if a >= 1e6 {
        (1e6, "M")
    } else if a >= 1e3 {
        (1e3, "k")
    } else {
        (1.0, "")
    };
    let scaled = v / div;
    format!("{}{suffix}", trim_number(scaled, decimals_for(&[scaled])))
}

/// The fewest decimals (up to 8) that write every value to within a millionth of the
/// smallest gap between them.
fn decimals_for(values: &[f64]) -> usize {
    let gap = values
        .windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .filter(|g| *g > 0.0)
        .fold(f64::INFINITY, f64::min);
    let tolerance = if gap.is_finite() {
        gap * 1e-6
    } else {
        values.iter().fold(0f64, |m, v| m.max(v.abs())) * 1e-9
    };
    (0..=8)
        .find(|d| {
            let f = 10f64.powi(*d as i32);
            values
                .iter()
                .all(|v| ((v * f).round() / f - v).abs() <= tolerance)
        })
        .unwrap_or(8)
}

fn trim_number(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s == "-0" { "0".to_string() } else { s }
}

/// A value in a label (legend, point label): whole numbers without decimals, others with
/// up to four significant digits.
pub fn format_value(v: f64) -> String {
    if !v.is_finite() {
        return llmsweep_core::pyfmt::py_float(v);
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return format!("{}", v as i64);
    }
    let digits = (4 - 1 - v.abs().log10().floor() as i32).clamp(0, 8) as usize;
    trim_number(v, digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_parse_and_map() {
        assert_eq!("log".parse::<Scale>().unwrap(), Scale::Log);
        assert_eq!("SQRT".parse::<Scale>().unwrap(), Scale::Sqrt);
        assert!(
            "symlog"
                .parse::<Scale>()
                .unwrap_err()
                .contains("linear, log, sqrt")
        );
        assert_eq!(Scale::Log.forward(100.0), Some(2.0));
        assert_eq!(Scale::Log.forward(0.0), None);
        assert_eq!(Scale::Sqrt.forward(9.0), Some(3.0));
        assert_eq!(Scale::Sqrt.forward(-1.0), None);
        assert_eq!(Scale::Linear.forward(f64::INFINITY), None);
        for s in Scale::ALL {
            let t = s.forward(42.0).unwrap();
            assert!((s.inverse(t) - 42.0).abs() < 1e-9);
        }
    }

    #[test]
    fn linear_ticks_are_round() {
        assert_eq!(nice_ticks(0.0, 10.0, 5), [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(nice_ticks(3.2, 97.0, 5), [20.0, 40.0, 60.0, 80.0]);
        assert_eq!(nice_ticks(0.1, 0.35, 5), [0.1, 0.15, 0.2, 0.25, 0.3, 0.35]);
        assert_eq!(nice_ticks(5.0, 5.0, 5), [5.0]);
    }

    #[test]
    fn sqrt_ticks_reach_down_the_stretched_bottom() {
        let t = Scale::Sqrt.ticks(430.0, 7200.0, 6);
        assert_eq!(t[0], 500.0, "{t:?}");
        assert!(t.contains(&1000.0) && t.contains(&6000.0), "{t:?}");
        assert!(t.windows(2).all(|w| w[0] < w[1]), "{t:?}");
        // A range starting at 0 needs nothing added.
        assert_eq!(
            Scale::Sqrt.ticks(0.0, 10.0, 5),
            [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
        );
        assert!(Scale::Sqrt.ticks(-5.0, 4.0, 4).iter().all(|v| *v >= 0.0));
    }

    #[test]
    fn log_ticks_are_decades_or_1_2_5() {
        assert_eq!(
            Scale::Log.ticks(1.0, 10000.0, 6),
            [1.0, 10.0, 100.0, 1000.0, 10000.0]
        );
        assert_eq!(
            Scale::Log.ticks(3.0, 150.0, 6),
            [5.0, 10.0, 20.0, 50.0, 100.0]
        );
        let t = Scale::Log.ticks(120.0, 180.0, 6);
        assert!(
            t.len() >= 2 && t.iter().all(|v| (120.0..=180.0).contains(v)),
            "{t:?}"
        );
        assert!(Scale::Log.ticks(-1.0, 5.0, 6).is_empty());
        // About one decade: more than the two 1-2-5 ticks.
        assert_eq!(
            Scale::Log.ticks(100.0, 450.0, 6),
            [100.0, 200.0, 300.0, 400.0]
        );
        assert_eq!(
            Scale::Log.ticks(0.6, 2.5, 6),
            [0.6, 0.7, 0.8, 0.9, 1.0, 2.0]
        );
    }

    #[test]
    fn tick_labels_share_precision() {
        assert_eq!(
            format_ticks(&[0.0, 0.5, 1.0, 1.5]),
            ["0", "0.5", "1", "1.5"]
        );
        assert_eq!(
            format_ticks(&[1000.0, 1500.0, 2000.0]),
            ["1000", "1500", "2000"]
        );
        assert_eq!(
            format_ticks(&[100000.0, 200000.0, 300000.0]),
            ["100k", "200k", "300k"]
        );
        assert_eq!(format_ticks(&[2.5e6, 5e6]), ["2.5M", "5M"]);
        assert_eq!(format_ticks(&[0.02, 0.04]), ["0.02", "0.04"]);
        assert_eq!(
            format_ticks(&[0.0, 50000.0, 100000.0]),
            ["0", "50k", "100k"]
        );
        assert_eq!(
            tick_labels(Scale::Log, &[1.0, 10.0, 1000.0, 20000.0, 2.5e6]),
            ["1", "10", "1k", "20k", "2.5M"]
        );
        assert_eq!(tick_labels(Scale::Log, &[0.002, 0.5]), ["0.002", "0.5"]);
    }

    #[test]
    fn label_values() {
        assert_eq!(format_value(16.0), "16");
        assert_eq!(format_value(1234.567), "1235");
        assert_eq!(format_value(12.3456), "12.35");
        assert_eq!(format_value(0.012346), "0.01235");
        assert_eq!(format_value(f64::INFINITY), "inf");
    }
}
