//! Arrival times: when each request is meant to be sent, computed before the run starts.
//!
//! Same process as `vllm bench serve` (`get_request`): one gamma draw per request with
//! `shape = burstiness`, `scale = 1 / (rate · burstiness)` (burstiness 1 is a Poisson process),
//! a cumulative sum, and, without ramp-up, a rescale so the last request lands exactly at
//! `N / rate`. An infinite rate sends everything at t = 0. The draws come from a seeded
//! ChaCha generator, not numpy's MT19937, so the individual times differ from vLLM's while the
//! distribution is the same.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Gamma};

/// How the request rate evolves over the run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RateProfile {
    /// A constant rate in requests per second; `f64::INFINITY` sends all requests at once.
    Constant(f64),
    /// vLLM's `--ramp-up-strategy`: the rate goes from `start` to `end` req/s over the requests.
    Ramp {
        /// `linear` or `exponential`.
        strategy: RampStrategy,
        /// `--ramp-up-start-rps`.
        start: u64,
        /// `--ramp-up-end-rps`.
        end: u64,
    },
}

/// The shape of a ramp-up (`--ramp-up-strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RampStrategy {
    /// `rate_i = start + (end − start) · i / (N − 1)`.
    Linear,
    /// `rate_i = start · (end / start)^(i / (N − 1))`.
    Exponential,
}

impl RampStrategy {
    /// The flag value (`linear` / `exponential`).
    pub fn as_str(self) -> &'static str {
        match self {
            RampStrategy::Linear => "linear",
            RampStrategy::Exponential => "exponential",
        }
    }
}

/// The precomputed send plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Seconds after the start of the run at which request `i` should be sent (non-decreasing).
    pub offsets_s: Vec<f64>,
    /// The rate in force for each request (the ramp-up rate, or the constant rate).
    pub rates: Vec<f64>,
}

/// The error for an arrival process that cannot be built.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ScheduleError {
    /// A rate that is zero, negative or NaN.
    #[error("--request-rate must be > 0 (or inf), got {0}")]
    BadRate(f64),
    /// A burstiness that is zero, negative or NaN.
    #[error("--burstiness must be > 0, got {0}")]
    BadBurstiness(f64),
    /// A ramp whose rate for some request is not positive (e.g. a linear ramp from 0).
    #[error("ramp-up rate for request {index} is {rate}, but every request needs a rate > 0")]
    BadRampRate {
        /// The request index.
        index: usize,
        /// The rate computed for it.
        rate: f64,
    },
}

/// The rate for request `index` of `total` (vLLM's `_get_current_request_rate`).
pub fn rate_for(profile: RateProfile, index: usize, total: usize) -> f64 {
    match profile {
        RateProfile::Constant(rate) => rate,
        RateProfile::Ramp {
            strategy,
            start,
            end,
        } => {
            let progress = index as f64 / (total.saturating_sub(1).max(1)) as f64;
            let (start, end) = (start as f64, end as f64);
            match strategy {
                RampStrategy::Linear => start + (end - start) * progress,
                RampStrategy::Exponential => start * (end / start).powf(progress),
            }
        }
    }
}

/// Build the send plan for `total` requests.
pub fn build(
    profile: RateProfile,
    burstiness: f64,
    total: usize,
    seed: u64,
) -> Result<Schedule, ScheduleError> {
    if burstiness.is_nan() || burstiness <= 0.0 {
        return Err(ScheduleError::BadBurstiness(burstiness));
    }
    if let RateProfile::Constant(rate) = profile
        && (rate.is_nan() || rate <= 0.0)
    {
        return Err(ScheduleError::BadRate(rate));
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut rates = Vec::with_capacity(total);
    let mut offsets_s = Vec::with_capacity(total);
    let mut cumulative = 0.0_f64;
    for index in 0..total {
        let rate = rate_for(profile, index, total);
        if rate.is_nan() || rate <= 0.0 {
            return Err(ScheduleError::BadRampRate { index, rate });
        }
        let delay = if rate.is_infinite() {
            0.0
        } else if burstiness.is_infinite() {
            1.0 / rate
        } else {
            // Both parameters are finite and positive here, so `new` cannot fail.
            Gamma::new(burstiness, 1.0 / (rate * burstiness))
                .map(|g| g.sample(&mut rng))
                .unwrap_or(1.0 / rate)
        };
        cumulative += delay;
        rates.push(rate);
        offsets_s.push(cumulative);
    }
    if let RateProfile::Constant(rate) = profile
        && let Some(&last) = offsets_s.last()
        && last != 0.0
    {
        let factor = (total as f64 / rate) / last;
        for offset in &mut offsets_s {
            *offset *= factor;
        }
    }
    Ok(Schedule { offsets_s, rates })
}

/// One entry of vLLM's `rps_change_events`: the integer rate reached and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpsChange {
    /// The integer requests-per-second value reached.
    pub rps: u64,
    /// Index of the request at which it was reached (the caller maps it to a wall-clock time).
    pub at_request: usize,
}

/// vLLM's `rps_change_events` for a ramp: the start rate at request 0, then one event per
/// integer step each time `int(rate_i)` passes the last recorded integer (all steps crossed at
/// the same request share that request's time).
pub fn rps_change_events(start: u64, rates: &[f64]) -> Vec<RpsChange> {
    let mut events = vec![RpsChange {
        rps: start,
        at_request: 0,
    }];
    let mut last = start as i64;
    for (index, &rate) in rates.iter().enumerate() {
        let current = rate as i64;
        if current > last {
            for rps in last + 1..=current {
                events.push(RpsChange {
                    rps: rps as u64,
                    at_request: index,
                });
            }
            last = current;
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infinite_rate_sends_everything_at_zero() {
        let s = build(RateProfile::Constant(f64::INFINITY), 1.0, 5, 0).unwrap();
        assert_eq!(s.offsets_s, vec![0.0; 5]);
    }

    #[test]
    fn last_arrival_is_rescaled_to_n_over_rate() {
        for burstiness in [0.2, 1.0, 4.0] {
            let s = build(RateProfile::Constant(8.0), burstiness, 40, 7).unwrap();
            assert!(
                (s.offsets_s[39] - 5.0).abs() < 1e-12,
                "{:?}",
                s.offsets_s.last()
            );
            assert!(s.offsets_s.windows(2).all(|w| w[0] <= w[1]));
            assert!(
                s.offsets_s[0] > 0.0,
                "the first request also waits its own gap"
            );
        }
    }

    #[test]
    fn infinite_burstiness_gives_even_spacing() {
        let s = build(RateProfile::Constant(4.0), f64::INFINITY, 4, 0).unwrap();
        assert_eq!(s.offsets_s, vec![0.25, 0.5, 0.75, 1.0]);
    }

    #[test]
    fn same_seed_same_schedule_other_seed_differs() {
        let a = build(RateProfile::Constant(10.0), 1.0, 20, 1).unwrap();
        assert_eq!(a, build(RateProfile::Constant(10.0), 1.0, 20, 1).unwrap());
        assert_ne!(a, build(RateProfile::Constant(10.0), 1.0, 20, 2).unwrap());
    }

    /// Coefficient of variation of the gaps: 1/sqrt(burstiness) for a gamma process.
    fn gap_cv(burstiness: f64) -> f64 {
        let s = build(RateProfile::Constant(100.0), burstiness, 20_000, 3).unwrap();
        let gaps: Vec<f64> = std::iter::once(s.offsets_s[0])
            .chain(s.offsets_s.windows(2).map(|w| w[1] - w[0]))
            .collect();
        let m = crate::stats::mean(&gaps);
        crate::stats::population_std(&gaps) / m
    }

    #[test]
    fn burstiness_controls_gap_variability() {
        assert!((gap_cv(1.0) - 1.0).abs() < 0.05);
        assert!((gap_cv(0.25) - 2.0).abs() < 0.1);
        assert!((gap_cv(4.0) - 0.5).abs() < 0.03);
    }

    #[test]
    fn bad_rates_and_burstiness_are_errors() {
        assert_eq!(
            build(RateProfile::Constant(0.0), 1.0, 3, 0),
            Err(ScheduleError::BadRate(0.0))
        );
        assert_eq!(
            build(RateProfile::Constant(-1.0), 1.0, 3, 0),
            Err(ScheduleError::BadRate(-1.0))
        );
        assert_eq!(
            build(RateProfile::Constant(1.0), 0.0, 3, 0),
            Err(ScheduleError::BadBurstiness(0.0))
        );
        let ramp = RateProfile::Ramp {
            strategy: RampStrategy::Linear,
            start: 0,
            end: 10,
        };
        assert_eq!(
            build(ramp, 1.0, 3, 0),
            Err(ScheduleError::BadRampRate {
                index: 0,
                rate: 0.0
            })
        );
    }

    #[test]
    fn zero_requests_is_an_empty_plan() {
        assert_eq!(
            build(RateProfile::Constant(1.0), 1.0, 0, 0)
                .unwrap()
                .offsets_s,
            Vec::<f64>::new()
        );
    }

    #[test]
    fn linear_and_exponential_ramp_rates() {
        let lin = RateProfile::Ramp {
            strategy: RampStrategy::Linear,
            start: 2,
            end: 10,
        };
        let rates: Vec<f64> = (0..5).map(|i| rate_for(lin, i, 5)).collect();
        assert_eq!(rates, vec![2.0, 4.0, 6.0, 8.0, 10.0]);
        let exp = RateProfile::Ramp {
            strategy: RampStrategy::Exponential,
            start: 1,
            end: 16,
        };
        let rates: Vec<f64> = (0..5).map(|i| rate_for(exp, i, 5)).collect();
        assert_eq!(rates, vec![1.0, 2.0, 4.0, 8.0, 16.0]);
        // A single request: progress = 0 / max(0, 1).
        assert_eq!(rate_for(lin, 0, 1), 2.0);
    }

    #[test]
    fn ramp_is_not_rescaled() {
        let ramp = RateProfile::Ramp {
            strategy: RampStrategy::Linear,
            start: 1,
            end: 1,
        };
        let s = build(ramp, f64::INFINITY, 3, 0).unwrap();
        assert_eq!(s.offsets_s, vec![1.0, 2.0, 3.0]);
    }

    #[test]
    fn rps_change_events_step_through_every_integer() {
        let events = rps_change_events(2, &[2.0, 2.5, 4.2, 4.9, 5.0]);
        let got: Vec<(u64, usize)> = events.iter().map(|e| (e.rps, e.at_request)).collect();
        assert_eq!(got, vec![(2, 0), (3, 2), (4, 2), (5, 4)]);
    }
}
