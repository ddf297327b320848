//! numpy-compatible summary statistics: the exact semantics `vllm bench serve` relies on.
//!
//! vLLM computes `np.mean(x or 0)`, `np.median(x or 0)`, `np.std(x or 0)` and
//! `np.percentile(x or 0, p)`: an empty list becomes the scalar `0`, so every statistic of an
//! empty list is `0`. Percentiles use numpy's default `"linear"` method and the standard
//! deviation is the population one (`ddof = 0`).

/// Mean, median, population std and the requested percentiles of one list of values.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Arithmetic mean (`np.mean`).
    pub mean: f64,
    /// Median (`np.median`, equal to the linear 50th percentile).
    pub median: f64,
    /// Population standard deviation (`np.std`, ddof = 0).
    pub std: f64,
    /// `(p, value)` for each requested percentile, in the order requested.
    pub percentiles: Vec<(f64, f64)>,
}

impl Summary {
    /// Summarise `values` (any order); `percentiles` are in `[0, 100]`.
    pub fn of(values: &[f64], percentiles: &[f64]) -> Summary {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        Summary {
            mean: mean(values),
            median: percentile_sorted(&sorted, 50.0),
            std: population_std(values),
            percentiles: percentiles
                .iter()
                .map(|&p| (p, percentile_sorted(&sorted, p)))
                .collect(),
        }
    }

    /// The same summary with every value multiplied by `factor` (seconds → ms is 1000).
    pub fn scaled(&self, factor: f64) -> Summary {
        Summary {
            mean: self.mean * factor,
            median: self.median * factor,
            std: self.std * factor,
            percentiles: self
                .percentiles
                .iter()
                .map(|&(p, v)| (p, v * factor))
                .collect(),
        }
    }
}

/// `np.mean(values or 0)`.
pub fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    pairwise_sum(values) / values.len() as f64
}

/// `np.std(values or 0)`: the population standard deviation.
pub fn population_std(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let m = mean(values);
    let squares: Vec<f64> = values.iter().map(|v| (v - m) * (v - m)).collect();
    (pairwise_sum(&squares) / values.len() as f64).sqrt()
}

/// `np.percentile(sorted or 0, p)` with the default linear method; `sorted` must be ascending.
pub fn percentile_sorted(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return 0.0;
    }
    let rank = (p / 100.0).clamp(0.0, 1.0) * (n - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    let frac = rank - lo as f64;
    let (a, b) = (sorted[lo], sorted[hi.min(n - 1)]);
    // numpy's `_lerp`: a + (b - a) * t, switched to b - (b - a) * (1 - t) for t >= 0.5.
    let diff = b - a;
    if frac >= 0.5 {
        b - diff * (1.0 - frac)
    } else {
        a + diff * frac
    }
}

/// Summation the way numpy does it (pairwise in blocks of 8 over runs of 128), so means match
/// numpy to the last bit far more often than a naive left fold would.
fn pairwise_sum(values: &[f64]) -> f64 {
    const BLOCK: usize = 128;
    let n = values.len();
    if n < 8 {
        let mut acc = -0.0_f64;
        for &v in values {
            acc += v;
        }
        acc
    } else if n <= BLOCK {
        let mut r = [0.0_f64; 8];
        r.copy_from_slice(&values[..8]);
        let mut i = 8;
        while i + 8 <= n {
            for (j, slot) in r.iter_mut().enumerate() {
                *slot += values[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        while i < n {
            res += values[i];
            i += 1;
        }
        res
    } else {
        let mut half = n / 2;
        half -= half % 8;
        pairwise_sum(&values[..half]) + pairwise_sum(&values[half..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values computed with numpy 2.x (np.mean/np.median/np.std/np.percentile).
    #[test]
    fn empty_list_gives_zero_everywhere() {
        let s = Summary::of(&[], &[50.0, 99.0]);
        assert_eq!(
            s,
            Summary {
                mean: 0.0,
                median: 0.0,
                std: 0.0,
                percentiles: vec![(50.0, 0.0), (99.0, 0.0)]
            }
        );
    }

    #[test]
    fn single_value() {
        let s = Summary::of(&[3.5], &[1.0, 99.9]);
        assert_eq!((s.mean, s.median, s.std), (3.5, 3.5, 0.0));
        assert_eq!(s.percentiles, vec![(1.0, 3.5), (99.9, 3.5)]);
    }

    #[test]
    fn linear_percentiles_match_numpy() {
        // np.percentile([1, 2, 3, 4, 10], [0, 25, 50, 90, 99, 100])
        let v = [10.0, 1.0, 3.0, 2.0, 4.0];
        let mut sorted = v.to_vec();
        sorted.sort_by(f64::total_cmp);
        let got: Vec<f64> = [0.0, 25.0, 50.0, 90.0, 99.0, 100.0]
            .iter()
            .map(|&p| percentile_sorted(&sorted, p))
            .collect();
        let want = [1.0, 2.0, 3.0, 7.6, 9.76, 10.0];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-12, "{got:?}");
        }
    }

    #[test]
    fn median_of_even_count_interpolates() {
        assert_eq!(Summary::of(&[4.0, 1.0, 3.0, 2.0], &[]).median, 2.5);
    }

    #[test]
    fn population_std_not_sample_std() {
        // np.std([2, 4, 4, 4, 5, 5, 7, 9]) == 2.0 (sample std would be 2.138...)
        assert_eq!(
            population_std(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]),
            2.0
        );
    }

    #[test]
    fn mean_matches_numpy_pairwise_sum_bit_for_bit() {
        // v = [(i * 0.37) % 1.3 for i in range(1000)]: np.mean(v) == 0.6530999999999912,
        // while a left fold gives 0.6530999999999909.
        let v: Vec<f64> = (0..1000).map(|i| (i as f64 * 0.37) % 1.3).collect();
        assert_eq!(mean(&v), 0.6530999999999912);
    }

    #[test]
    fn scaled_multiplies_every_field() {
        let s = Summary::of(&[0.001, 0.003], &[99.0]).scaled(1000.0);
        assert!((s.mean - 2.0).abs() < 1e-12);
        assert!((s.percentiles[0].1 - 2.98).abs() < 1e-9);
    }
}
