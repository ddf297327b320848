//! The mean of repeated runs and its 95% confidence interval, as seaborn's `lineplot`
//! computes them for vLLM's plots: runs at the same x are averaged, and the interval is
//! the 2.5th–97.5th percentile of 1,000 bootstrap means. The bootstrap uses a fixed seed,
//! so the same folder always gives the same picture.

/// The mean of some values and its 95% confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Estimate {
    /// The mean.
    pub mean: f64,
    /// The lower end of the interval (the mean itself for one value).
    pub lo: f64,
    /// The upper end of the interval (the mean itself for one value).
    pub hi: f64,
    /// How many values.
    pub n: usize,
}

/// Bootstrap resamples, as seaborn's default `n_boot`.
pub const N_BOOT: usize = 1000;
const SEED: u64 = 0x5EED_1DEA_2024_0001;

/// The arithmetic mean (NaN for no values).
pub fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.iter().sum::<f64>() / values.len() as f64
}

/// The mean of `values` with a 95% percentile-bootstrap interval. With fewer than two
/// values, or all values equal, the interval is the mean itself.
pub fn mean_ci95(values: &[f64]) -> Estimate {
    let m = mean(values);
    let n = values.len();
    if n < 2 || values.iter().all(|v| *v == values[0]) {
        return Estimate {
            mean: m,
            lo: m,
            hi: m,
            n,
        };
    }
    let mut rng = SplitMix64(SEED ^ (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut boots: Vec<f64> = (0..N_BOOT)
        .map(|_| {
            let sum: f64 = (0..n).map(|_| values[rng.below(n)]).sum();
            sum / n as f64
        })
        .collect();
    boots.sort_by(f64::total_cmp);
    Estimate {
        mean: m,
        lo: percentile_sorted(&boots, 2.5),
        hi: percentile_sorted(&boots, 97.5),
        n,
    }
}

/// numpy's default (linear) percentile of sorted values.
pub fn percentile_sorted(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = p / 100.0 * (sorted.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    let frac = rank - lo as f64;
    sorted[lo] + (sorted[hi] - sorted[lo]) * frac
}

/// Average the y values of points that share an x (exactly), sorted by x: one
/// `(x, estimate of y)` per distinct x. With `with_ci` false, the interval is the mean.
pub fn aggregate_by_x(points: &[(f64, f64)], with_ci: bool) -> Vec<(f64, Estimate)> {
    let mut sorted: Vec<(f64, f64)> = points.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let x = sorted[i].0;
        let mut j = i;
        while j < sorted.len() && sorted[j].0 == x {
            j += 1;
        }
        let ys: Vec<f64> = sorted[i..j].iter().map(|p| p.1).collect();
        let est = if with_ci {
            mean_ci95(&ys)
        } else {
            let m = mean(&ys);
            Estimate {
                mean: m,
                lo: m,
                hi: m,
                n: ys.len(),
            }
        };
        out.push((x, est));
        i = j;
    }
    out
}

/// A small, fast, seedable generator (SplitMix64); good enough for resampling.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform index in `0..n` (Lemire's multiply-shift; the bias is negligible here).
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_value_has_no_band() {
        let e = mean_ci95(&[5.0]);
        assert_eq!((e.mean, e.lo, e.hi, e.n), (5.0, 5.0, 5.0, 1));
        let e = mean_ci95(&[2.0, 2.0, 2.0]);
        assert_eq!((e.lo, e.hi), (2.0, 2.0));
    }

    #[test]
    fn interval_brackets_the_mean_inside_the_range() {
        let vals = [10.0, 12.0, 11.0, 30.0, 9.0];
        let e = mean_ci95(&vals);
        assert!((e.mean - 14.4).abs() < 1e-12);
        assert!(e.lo < e.mean && e.mean < e.hi, "{e:?}");
        assert!(e.lo >= 9.0 && e.hi <= 30.0, "{e:?}");
        // Deterministic: the same input gives the same band.
        assert_eq!(mean_ci95(&vals), e);
    }

    #[test]
    fn interval_matches_the_bootstrap_distribution_for_two_values() {
        // Two values: the bootstrap mean is 0 (p=1/4), 0.5 (1/2) or 1 (1/4); the 2.5th and
        // 97.5th percentiles of 1,000 draws are therefore 0 and 1.
        let e = mean_ci95(&[0.0, 1.0]);
        assert_eq!((e.lo, e.hi), (0.0, 1.0));
    }

    #[test]
    fn interval_narrows_with_more_runs() {
        let few: Vec<f64> = (0..4).map(|i| 100.0 + (i % 2) as f64 * 10.0).collect();
        let many: Vec<f64> = (0..64).map(|i| 100.0 + (i % 2) as f64 * 10.0).collect();
        let (a, b) = (mean_ci95(&few), mean_ci95(&many));
        assert!(b.hi - b.lo < a.hi - a.lo, "{a:?} {b:?}");
        assert!((b.mean - 105.0).abs() < 1e-9);
    }

    #[test]
    fn percentiles_are_numpy_linear() {
        let s = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile_sorted(&s, 50.0), 2.5);
        assert_eq!(percentile_sorted(&s, 0.0), 1.0);
        assert_eq!(percentile_sorted(&s, 100.0), 4.0);
        assert!((percentile_sorted(&s, 2.5) - 1.075).abs() < 1e-12);
    }

    #[test]
    fn points_at_the_same_x_are_averaged_and_sorted() {
        let pts = [(2.0, 10.0), (1.0, 5.0), (2.0, 20.0), (3.0, 1.0)];
        let agg = aggregate_by_x(&pts, true);
        let xs: Vec<f64> = agg.iter().map(|p| p.0).collect();
        assert_eq!(xs, [1.0, 2.0, 3.0]);
        assert_eq!(agg[1].1.mean, 15.0);
        assert_eq!(agg[1].1.n, 2);
        assert!(agg[1].1.lo <= 15.0 && agg[1].1.hi >= 15.0);
        let flat = aggregate_by_x(&pts, false);
        assert_eq!((flat[1].1.lo, flat[1].1.hi), (15.0, 15.0));
    }
}
