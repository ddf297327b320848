//! Statistics of start-up times as vLLM's `vllm bench startup` computes them with numpy:
//! the mean (`np.mean`, pairwise summation) and percentiles 10/25/50/75/90/99
//! (`np.percentile`, method "linear"), reproduced to the last bit so that our numbers and
//! vLLM's agree on the same input.

/// The percentiles vLLM reports (`PERCENTAGES` in `vllm/benchmarks/startup.py`).
pub const PERCENTAGES: [u32; 6] = [10, 25, 50, 75, 90, 99];

/// numpy's summation block: below it, a plain loop with eight accumulators.
const PAIRWISE_BLOCK: usize = 128;

/// `np.mean(values)`; `None` for no values (numpy would warn and return NaN).
pub fn mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    Some(pairwise_sum(values) / values.len() as f64)
}

/// numpy's `pairwise_sum` for doubles (`loops_utils.h.src`).
fn pairwise_sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        let mut sum = -0.0;
        for x in a {
            sum += x;
        }
        sum
    } else if n <= PAIRWISE_BLOCK {
        let mut r = [0.0f64; 8];
        r.copy_from_slice(&a[..8]);
        let mut i = 8;
        while i < n - n % 8 {
            for (j, acc) in r.iter_mut().enumerate() {
                *acc += a[i + j];
            }
            i += 8;
        }
        let mut sum = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for x in &a[i..] {
            sum += x;
        }
        sum
    } else {
        let mut half = n / 2;
        half -= half % 8;
        pairwise_sum(&a[..half]) + pairwise_sum(&a[half..])
    }
}

/// `np.percentile(values, p)` with the default "linear" method, for `p` in 0..=100; `None`
/// for no values.
pub fn percentile(values: &[f64], p: u32) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    Some(percentile_of_sorted(&sorted, p))
}

fn percentile_of_sorted(sorted: &[f64], p: u32) -> f64 {
    let last = sorted.len() - 1;
    let quantile = f64::from(p) / 100.0;
    let virtual_index = last as f64 * quantile;
    let below = (virtual_index.floor() as usize).min(last);
    let above = (below + 1).min(last);
    let gamma = virtual_index - below as f64;
    lerp(sorted[below], sorted[above], gamma)
}

/// numpy's `_lerp`: from the nearer end, so that `t = 1` gives `b` exactly.
fn lerp(a: f64, b: f64, t: f64) -> f64 {
    let diff = b - a;
    if t >= 0.5 {
        b - diff * (1.0 - t)
    } else {
        a + diff * t
    }
}

/// Every percentile of [`PERCENTAGES`], in order; `None` for no values.
pub fn percentiles(values: &[f64]) -> Option<Vec<(u32, f64)>> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    Some(
        PERCENTAGES
            .iter()
            .map(|p| (*p, percentile_of_sorted(&sorted, *p)))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (input, np.percentile(input, PERCENTAGES).tolist(), np.mean(input)), computed with
    /// numpy 2.4.6; compared bit for bit.
    #[allow(clippy::type_complexity)]
    const NUMPY: &[(&[f64], [f64; 6], f64)] = &[
        (
            &[43.1, 40.9, 41.1],
            [40.94, 41.0, 41.1, 42.1, 42.7, 43.06],
            41.699999999999996,
        ),
        (&[0.3], [0.3; 6], 0.3),
        (
            &[15.0, 20.0, 35.0, 40.0, 50.0],
            [17.0, 20.0, 35.0, 40.0, 46.0, 49.6],
            32.0,
        ),
        (
            &[3.3, 1.1, 2.2, 5.5],
            [
                1.4300000000000002,
                1.9250000000000003,
                2.75,
                3.8499999999999996,
                4.84,
                5.433999999999999,
            ],
            3.0250000000000004,
        ),
        (
            &[0.1, 0.7, 0.2, 0.3, 0.9, 0.4, 0.5, 0.6, 0.8, 1.1],
            [0.19, 0.325, 0.55, 0.775, 0.9199999999999999, 1.082],
            0.5599999999999999,
        ),
        (
            &[
                0.11,
                0.22,
                0.30000000000000004,
                0.41000000000000003,
                0.52,
                0.6000000000000001,
                0.7100000000000001,
                0.8200000000000001,
                0.9,
                1.01,
                1.12,
                1.2000000000000002,
                1.31,
                1.4200000000000002,
                1.5,
                1.61,
                1.7200000000000002,
            ],
            [0.268, 0.52, 0.9, 1.31, 1.544, 1.7024000000000001],
            // A plain left-to-right sum gives …177: numpy sums pairwise.
            0.9105882352941178,
        ),
        (
            &[1e16, 1.0, -1e16, 3.3, 2.1, 0.7, 0.9, 1.7, 4.4, 5.5],
            [
                -999999999999999.0,
                0.925,
                1.9,
                4.125,
                1000000000000001.4,
                9100000000000002.0,
            ],
            // A plain left-to-right sum gives 1.86.
            1.9300000000000002,
        ),
    ];

    #[test]
    fn percentiles_and_means_match_numpy_bit_for_bit() {
        for (input, expected, expected_mean) in NUMPY {
            let got: Vec<f64> = percentiles(input)
                .unwrap()
                .into_iter()
                .map(|(_, v)| v)
                .collect();
            assert_eq!(got, expected, "percentiles of {input:?}");
            assert_eq!(mean(input), Some(*expected_mean), "mean of {input:?}");
        }
    }

    #[test]
    fn percentile_keys_and_bounds() {
        let p = percentiles(&[2.0, 1.0]).unwrap();
        assert_eq!(
            p.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
            PERCENTAGES.to_vec()
        );
        assert_eq!(percentile(&[5.0, 1.0, 3.0], 0), Some(1.0));
        assert_eq!(percentile(&[5.0, 1.0, 3.0], 100), Some(5.0));
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentiles(&[]), None);
        assert_eq!(mean(&[]), None);
    }

    #[test]
    fn long_inputs_sum_pairwise_in_blocks_like_numpy() {
        // 1000 values: numpy's pairwise sum recurses into halves, then blocks of eight.
        let values: Vec<f64> = (0..1000).map(|i| (0.37 * f64::from(i)) % 5.3).collect();
        assert_eq!(mean(&values), Some(2.6381000000000037));
        let got: Vec<f64> = percentiles(&values)
            .unwrap()
            .into_iter()
            .map(|(_, v)| v)
            .collect();
        assert_eq!(
            got,
            [
                0.5290000000000021,
                1.3174999999999895,
                2.6350000000000047,
                3.959999999999999,
                4.759999999999992,
                5.240000000000004
            ]
        );
    }
}
