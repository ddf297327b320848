//! The SLA search as pure numbers: find the largest load value whose measured SLA margin
//! passes, asking for one measurement at a time. No server, no clock: the caller measures.
//!
//! vLLM's algorithm runs once at the largest value and once at the smallest, then
//! interpolates margin against value with PCHIP and tests at the root, until the largest
//! passing and the smallest failing value are adjacent integers. This search keeps that
//! core and spends fewer runs:
//!
//! - the largest value is a real one (the dataset size for `max_concurrency`, "inf" for
//!   `request_rate`, whose measured throughput then places it on the axis), not 65536;
//! - guards against regula-falsi stagnation: while measurements keep landing on the same
//!   side, the far end's margin is halved in the interpolation (the Illinois method), and
//!   after `BISECT_AFTER` of them in a row the next value bisects the bracket;
//! - the infinite load's stand-in position leaves the interpolation once a finite load
//!   has failed;
//! - for `request_rate`, a root estimate within the tolerance of an end is turned into the
//!   value that closes the bracket if the estimate is right;
//! - with a hint (the previous serve combination's answer) the bracket is grown around the
//!   hint instead of starting from the extremes;
//! - `request_rate` is a real number, searched to a relative tolerance.

use crate::pchip::Pchip;

/// The kind of value searched.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Domain {
    /// Whole numbers (`max_concurrency`): done when the bracket is two adjacent integers.
    Integer,
    /// Positive reals (`request_rate`): done when `(fail − pass) ≤ rel_tol · pass`.
    Real {
        /// Relative tolerance (`--sla-tolerance`).
        rel_tol: f64,
    },
}

/// One measured value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Probe {
    /// The value measured (may be infinite).
    pub value: f64,
    /// Where it sits on the interpolation axis (the value itself, or for an infinite value
    /// a finite stand-in derived from the throughput it reached).
    pub x: f64,
    /// Its SLA margin (≤ 0 passes; the largest normalised distance over the criteria).
    pub margin: f64,
    /// Did it pass?
    pub pass: bool,
}

/// What to do next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    /// Measure this value.
    Measure(f64),
    /// The search is over.
    Done(Answer),
}

/// The outcome of a search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Answer {
    /// The largest passing value, or `None` when even the smallest value fails.
    pub value: Option<f64>,
    /// The largest value tested passed: the SLA holds across the whole range.
    pub reached_max: bool,
    /// The bracket did not close (too many steps, or non-monotone measurements).
    pub unconverged: bool,
}

/// Measurements in a row on the same side of the root after which the next value bisects.
const BISECT_AFTER: usize = 4;

/// Most measurements one search takes before it stops with what it has.
pub const MAX_STEPS: usize = 40;

/// The state of one search.
#[derive(Debug, Clone)]
pub struct Search {
    domain: Domain,
    min: f64,
    max: f64,
    hint: Option<f64>,
    probes: Vec<Probe>,
    steps: usize,
}

impl Search {
    /// A search over `[min, max]` (`max` may be infinite for a real domain), optionally
    /// starting around `hint`.
    pub fn new(domain: Domain, min: f64, max: f64, hint: Option<f64>) -> Self {
        let hint = hint.filter(|h| h.is_finite() && *h > min && *h < max);
        Self {
            domain,
            min,
            max,
            hint,
            probes: Vec::new(),
            steps: 0,
        }
    }

    /// The measurements so far, in order.
    pub fn probes(&self) -> &[Probe] {
        &self.probes
    }

    /// Record a measurement of `value`. For an infinite value, `throughput` (what the
    /// server sustained under it) places it on the axis: a finite load at the saturation
    /// throughput is measured next, to find a finite failure (or, if it passes, twice as
    /// much, and so on).
    pub fn record(&mut self, value: f64, margin: f64, pass: bool, throughput: Option<f64>) {
        let x = if value.is_finite() {
            value
        } else {
            let base = throughput
                .filter(|t| t.is_finite() && *t > 0.0)
                .unwrap_or(self.min * 64.0);
            self.round(base.max(self.min * 1.5))
        };
        if value.is_finite() && pass {
            // A finite load at or past the infinite one's stand-in passed: move it up.
            let moved = self.round(value * 2.0);
            for p in self
                .probes
                .iter_mut()
                .filter(|p| p.value.is_infinite() && p.x <= value)
            {
                p.x = moved;
            }
        }
        self.probes.retain(|p| p.value != value);
        self.probes.push(Probe {
            value,
            x,
            margin,
            pass,
        });
        self.steps += 1;
    }

    /// How many measurements were recorded (a value measured again counts again).
    pub fn steps(&self) -> usize {
        self.steps
    }

    fn max_pass(&self) -> Option<&Probe> {
        self.probes
            .iter()
            .filter(|p| p.pass)
            .max_by(|a, b| a.x.total_cmp(&b.x))
    }

    fn min_fail(&self) -> Option<&Probe> {
        // On a tie, a finite value is the better-known failure.
        self.probes.iter().filter(|p| !p.pass).min_by(|a, b| {
            a.x.total_cmp(&b.x)
                .then(a.value.is_infinite().cmp(&b.value.is_infinite()))
        })
    }

    fn measured(&self, v: f64) -> bool {
        self.probes.iter().any(|p| p.value == v)
    }

    fn done(&self, value: Option<f64>, unconverged: bool) -> Step {
        Step::Done(Answer {
            value,
            reached_max: value == Some(self.max),
            unconverged,
        })
    }

    /// The next value to measure, or the answer.
    pub fn next(&self) -> Step {
        let pass = self.max_pass().copied();
        let fail = self.min_fail().copied();
        if self.steps >= MAX_STEPS {
            return self.done(pass.map(|p| p.value), true);
        }
        match (pass, fail) {
            (Some(p), _) if p.value == self.max => self.done(Some(p.value), false),
            (_, Some(f)) if f.value == self.min => self.done(None, false),
            (None, None) => Step::Measure(self.hint.unwrap_or(self.max)),
            (Some(p), None) => {
                // Only passes so far: grow upwards (from a hint), else try the maximum.
                if self.hint.is_some() {
                    Step::Measure(self.round(p.value * 2.0).min(self.max))
                } else {
                    Step::Measure(self.max)
                }
            }
            (None, Some(f)) => {
                if self.hint.is_some() {
                    let down = self.round(f.x / 2.0).max(self.min);
                    Step::Measure(if self.measured(down) { self.min } else { down })
                } else {
                    Step::Measure(self.min)
                }
            }
            (Some(_), Some(f)) if f.value.is_infinite() && !self.measured(f.x) => {
                // The only failure is the infinite load: measure where it stands in.
                Step::Measure(f.x)
            }
            (Some(p), Some(f)) => {
                if p.x >= f.x {
                    // A failure below a pass: the measurements are not monotone.
                    return self.done(Some(p.value), true);
                }
                if self.converged(p.x, f.x) {
                    return self.done(Some(p.value), false);
                }
                Step::Measure(self.candidate(p.x, f.x))
            }
        }
    }

    fn converged(&self, lo: f64, hi: f64) -> bool {
        match self.domain {
            Domain::Integer => hi - lo <= 1.0,
            Domain::Real { rel_tol } => hi - lo <= rel_tol * lo,
        }
    }

    /// The value to test inside the bracket `(lo, hi)`: the PCHIP root `r`, or the middle
    /// after `BISECT_AFTER` measurements in a row on the same side.
    ///
    /// For whole numbers, `r` rounded (kept inside the bracket; a value measured already
    /// gives way to the nearest one not measured). For real numbers, `r` itself, unless
    /// `r` lies within the tolerance of an end: then the value just under one tolerance
    /// away from that end, whose expected verdict (fail above the low end, pass below the
    /// high end) closes the bracket at once.
    fn candidate(&self, lo: f64, hi: f64) -> f64 {
        let mid = 0.5 * (lo + hi);
        let target = if self.stagnating() {
            mid
        } else {
            self.interpolated_root(lo, hi).unwrap_or(mid)
        };
        match self.domain {
            Domain::Integer => {
                let (a, b) = (lo + 1.0, hi - 1.0);
                let c = target.round().clamp(a, b);
                if !self.measured(c) {
                    return c;
                }
                // Already measured: the nearest value not measured.
                (1..)
                    .map(f64::from)
                    .flat_map(|d| [c + d, c - d])
                    .take_while(|v| *v >= a - (b - a) || *v <= b + (b - a))
                    .find(|v| *v >= a && *v <= b && !self.measured(*v))
                    .unwrap_or(c)
            }
            Domain::Real { rel_tol } => {
                let c = if target <= lo * (1.0 + rel_tol) {
                    // A failure here closes the bracket.
                    closing_value(lo * (1.0 + 0.9 * rel_tol), |v| {
                        v > lo && v - lo <= rel_tol * lo
                    })
                } else if hi - target <= rel_tol * target {
                    // A pass here closes the bracket.
                    closing_value(hi / (1.0 + 0.9 * rel_tol), |v| {
                        v < hi && hi - v <= rel_tol * v
                    })
                } else {
                    closing_value(target, |v| v > lo && v < hi)
                };
                if c > lo && c < hi && !self.measured(c) {
                    c
                } else {
                    let m = round_sig(mid, 6);
                    if m > lo && m < hi {
                        m
                    } else {
                        lo + (hi - lo) * 0.5_f64.max(rel_tol)
                    }
                }
            }
        }
    }

    /// The last safeguard: `BISECT_AFTER` measurements in a row landed on the same side
    /// although the damped interpolation (see `interpolated_root`) aimed at the root, so
    /// the margins are not what the interpolation assumes (a step, noise); bisect.
    fn stagnating(&self) -> bool {
        self.same_side_run() >= BISECT_AFTER
    }

    /// The root of the PCHIP through (value, margin). For `request_rate` the margins are
    /// squashed first: past capacity an open-loop queue grows without bound and margins by
    /// orders of magnitude, and `sign(m)·ln(1 + |m|)` keeps the same root while stopping one
    /// huge failure from pulling every guess towards the passing end. Under a concurrency
    /// limit latency grows about linearly past saturation (Little's law), so raw margins
    /// interpolate best there (a linear margin is then found in four measurements).
    fn interpolated_root(&self, lo: f64, hi: f64) -> Option<f64> {
        let squash = |m: f64| match self.domain {
            Domain::Integer => m,
            Domain::Real { .. } => m.signum() * m.abs().ln_1p(),
        };
        // Illinois' safeguard against regula-falsi creep: while the latest measurements all
        // land on one side, the far end of the bracket keeps its old margin and drags every
        // estimate towards it; halve that end's margin once per repeat.
        let run = self.same_side_run();
        let damp = if run >= 2 {
            0.5_f64.powi(run as i32 - 1)
        } else {
            1.0
        };
        let stale = match self.probes.last() {
            Some(p) if p.pass => hi,
            _ => lo,
        };
        // Once a finite load failed, the infinite one's stand-in position says nothing more.
        let finite_fail = self.probes.iter().any(|p| !p.pass && p.value.is_finite());
        let mut pts: Vec<(f64, f64)> = self
            .probes
            .iter()
            .filter(|p| p.value.is_finite() || !finite_fail)
            .map(|p| {
                let m = squash(p.margin);
                (p.x, if p.x == stale { m * damp } else { m })
            })
            .filter(|(x, m)| x.is_finite() && m.is_finite())
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        pts.dedup_by(|a, b| a.0 == b.0);
        let (x, y): (Vec<f64>, Vec<f64>) = pts.into_iter().unzip();
        Pchip::new(&x, &y)?.root_in(lo, hi)
    }

    /// How many of the latest measurements landed on the same side (all passed or all
    /// failed), not counting the first two (the ends of the range).
    fn same_side_run(&self) -> usize {
        let inner = &self.probes[self.probes.len().min(2)..];
        match inner.last() {
            None => 0,
            Some(last) => inner
                .iter()
                .rev()
                .take_while(|p| p.pass == last.pass)
                .count(),
        }
    }

    fn round(&self, v: f64) -> f64 {
        match self.domain {
            Domain::Integer => v.round(),
            Domain::Real { .. } => round_sig(v, 4),
        }
    }
}

/// `target` rounded to the fewest significant digits (at least 4, readable in folder
/// names) that still satisfy `ok`; `target` itself if none does.
fn closing_value(target: f64, ok: impl Fn(f64) -> bool) -> f64 {
    (4..=12)
        .map(|d| round_sig(target, d))
        .find(|v| ok(*v))
        .unwrap_or(target)
}

/// Round to `digits` significant digits (values shown in folder names stay readable).
pub fn round_sig(v: f64, digits: i32) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let scale = 10f64.powi(digits - 1 - v.abs().log10().floor() as i32);
    (v * scale).round() / scale
}

#[cfg(test)]
#[path = "search_tests.rs"]
mod tests;
