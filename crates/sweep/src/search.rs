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
//! - a guard against regula-falsi stagnation: after two steps that moved the same end of
//!   the bracket, the next value bisects it;
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

    /// The value to test inside the bracket `(lo, hi)`: the PCHIP root of margin against
    /// value, or the middle after two steps that moved the same end.
    fn candidate(&self, lo: f64, hi: f64) -> f64 {
        let mid = 0.5 * (lo + hi);
        // Two steps in a row that moved the same end of the bracket: interpolation is
        // creeping (a curved margin); bisect once.
        let stagnating = {
            let n = self.probes.len();
            n >= 4
                && self.probes[n - 1].pass == self.probes[n - 2].pass
                && (self.probes[n - 1].x - lo)
                    .abs()
                    .min((self.probes[n - 1].x - hi).abs())
                    == 0.0
        };
        let target = if stagnating {
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
                // The rounded root was measured already: the nearest value not measured.
                (1..)
                    .map(f64::from)
                    .flat_map(|d| [c + d, c - d])
                    .take_while(|v| *v >= a - (b - a) || *v <= b + (b - a))
                    .find(|v| *v >= a && *v <= b && !self.measured(*v))
                    .unwrap_or(c)
            }
            Domain::Real { rel_tol } => {
                // Keep clear of the bracket's ends, so that each step shrinks it.
                let guard = (hi - lo) * 0.05;
                let c = round_sig(target.clamp(lo + guard, hi - guard), 4);
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

    /// The root of the PCHIP through (value, squashed margin). Margins past a knee grow by
    /// orders of magnitude (queueing); `sign(m)·ln(1 + |m|)` keeps the same root while
    /// stopping one huge failure from pulling every guess towards the passing end.
    fn interpolated_root(&self, lo: f64, hi: f64) -> Option<f64> {
        let squash = |m: f64| m.signum() * m.abs().ln_1p();
        let mut pts: Vec<(f64, f64)> = self
            .probes
            .iter()
            .map(|p| (p.x, squash(p.margin)))
            .filter(|(x, m)| x.is_finite() && m.is_finite())
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        pts.dedup_by(|a, b| a.0 == b.0);
        let (x, y): (Vec<f64>, Vec<f64>) = pts.into_iter().unzip();
        Pchip::new(&x, &y)?.root_in(lo, hi)
    }

    fn round(&self, v: f64) -> f64 {
        match self.domain {
            Domain::Integer => v.round(),
            Domain::Real { .. } => round_sig(v, 4),
        }
    }
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
