//! Monotone piecewise cubic Hermite interpolation (PCHIP), with the slopes of SciPy's
//! `PchipInterpolator` (Fritsch–Butland weighted harmonic mean inside, SciPy's one-sided
//! three-point formula at the ends), and root finding on it. vLLM's SLA search
//! interpolates the SLA margin against the load with SciPy's PCHIP; so do we.

/// A PCHIP interpolant through points with strictly increasing x.
#[derive(Debug, Clone)]
pub struct Pchip {
    x: Vec<f64>,
    y: Vec<f64>,
    d: Vec<f64>,
}

/// numpy's `sign` (0 for 0), unlike `f64::signum`.
fn sign(v: f64) -> f64 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        0.0
    }
}

impl Pchip {
    /// The interpolant through `(x, y)`; `None` unless there are at least two points, all
    /// finite, with strictly increasing x.
    pub fn new(x: &[f64], y: &[f64]) -> Option<Self> {
        let n = x.len();
        if n < 2
            || y.len() != n
            || x.iter().chain(y).any(|v| !v.is_finite())
            || x.windows(2).any(|w| w[1] <= w[0])
        {
            return None;
        }
        let h: Vec<f64> = x.windows(2).map(|w| w[1] - w[0]).collect();
        let delta: Vec<f64> = (0..n - 1).map(|k| (y[k + 1] - y[k]) / h[k]).collect();
        let mut d = vec![0.0; n];
        if n == 2 {
            d[0] = delta[0];
            d[1] = delta[0];
        } else {
            for k in 1..n - 1 {
                let (a, b) = (delta[k - 1], delta[k]);
                if sign(a) * sign(b) > 0.0 {
                    let w1 = 2.0 * h[k] + h[k - 1];
                    let w2 = h[k] + 2.0 * h[k - 1];
                    d[k] = (w1 + w2) / (w1 / a + w2 / b);
                }
            }
            d[0] = edge(h[0], h[1], delta[0], delta[1]);
            d[n - 1] = edge(h[n - 2], h[n - 3], delta[n - 2], delta[n - 3]);
        }
        Some(Self {
            x: x.to_vec(),
            y: y.to_vec(),
            d,
        })
    }

    /// The interpolant at `t`; beyond the ends the end cubics extend (SciPy's default).
    pub fn eval(&self, t: f64) -> f64 {
        let n = self.x.len();
        let k = match self.x.iter().rposition(|&xi| xi <= t) {
            None => 0,
            Some(i) => i.min(n - 2),
        };
        let h = self.x[k + 1] - self.x[k];
        let s = (t - self.x[k]) / h;
        let (h00, h10, h01, h11) = (
            (1.0 + 2.0 * s) * (1.0 - s) * (1.0 - s),
            s * (1.0 - s) * (1.0 - s),
            s * s * (3.0 - 2.0 * s),
            s * s * (s - 1.0),
        );
        h00 * self.y[k] + h10 * h * self.d[k] + h01 * self.y[k + 1] + h11 * h * self.d[k + 1]
    }

    /// The smallest `t` in `[lo, hi]` where the interpolant crosses zero, found by scanning
    /// the knots inside the range for a sign change and bisecting.
    pub fn root_in(&self, lo: f64, hi: f64) -> Option<f64> {
        if lo >= hi || lo.is_nan() || hi.is_nan() {
            return None;
        }
        let mut grid = vec![lo];
        grid.extend(self.x.iter().copied().filter(|&v| v > lo && v < hi));
        grid.push(hi);
        // Also split each interval in a few pieces: a cubic may cross inside one.
        let mut fine = Vec::with_capacity(grid.len() * 4);
        for w in grid.windows(2) {
            for i in 0..4 {
                fine.push(w[0] + (w[1] - w[0]) * f64::from(i) / 4.0);
            }
        }
        fine.push(hi);
        for w in fine.windows(2) {
            let (a, b) = (w[0], w[1]);
            let (fa, fb) = (self.eval(a), self.eval(b));
            if fa == 0.0 {
                return Some(a);
            }
            if sign(fa) != sign(fb) {
                return Some(bisect(|t| self.eval(t), a, b, fa));
            }
        }
        None
    }
}

/// SciPy's end slope: one-sided three-point estimate, kept shape-preserving.
fn edge(h0: f64, h1: f64, m0: f64, m1: f64) -> f64 {
    let d = ((2.0 * h0 + h1) * m0 - h0 * m1) / (h0 + h1);
    if sign(d) != sign(m0) {
        0.0
    } else if sign(m0) != sign(m1) && d.abs() > 3.0 * m0.abs() {
        3.0 * m0
    } else {
        d
    }
}

fn bisect(f: impl Fn(f64) -> f64, mut a: f64, mut b: f64, mut fa: f64) -> f64 {
    for _ in 0..100 {
        let m = 0.5 * (a + b);
        let fm = f(m);
        if fm == 0.0 || (b - a).abs() <= 1e-12 * (1.0 + m.abs()) {
            return m;
        }
        if sign(fm) == sign(fa) {
            a = m;
            fa = fm;
        } else {
            b = m;
        }
    }
    0.5 * (a + b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_scipy() {
        // scipy.interpolate.PchipInterpolator([1,2,4,8,16,32], [10,11,15,30,80,81]) probed at
        // these points (SciPy 1.17; extrapolation at 40 included).
        let p = Pchip::new(
            &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0],
            &[10.0, 11.0, 15.0, 30.0, 80.0, 81.0],
        )
        .unwrap();
        for (t, want) in [
            (1.0, 10.0),
            (32.0, 81.0),
            (8.0, 30.0),
            (3.0, 12.690587449933243),
            (12.0, 59.421921921921914),
            (24.0, 80.77777777777777),
            (40.0, 80.83333333333333),
        ] {
            let got = p.eval(t);
            assert!((got - want).abs() < 1e-9, "eval({t}) = {got}, scipy {want}");
        }
        assert!(p.root_in(1.0, 32.0).is_none(), "no zero crossing");
        let shifted = Pchip::new(
            &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0],
            &[-40.0, -39.0, -35.0, -20.0, 30.0, 31.0],
        )
        .unwrap();
        let r = shifted.root_in(1.0, 32.0).unwrap();
        assert!((r - 10.87253646).abs() < 1e-6, "{r}");
    }

    #[test]
    fn monotone_data_gives_a_monotone_curve() {
        let p = Pchip::new(&[1.0, 2.0, 3.0, 10.0], &[0.0, 0.1, 5.0, 5.1]).unwrap();
        let mut prev = f64::NEG_INFINITY;
        for i in 0..=90 {
            let v = p.eval(1.0 + f64::from(i) * 0.1);
            assert!(v >= prev - 1e-12);
            prev = v;
        }
    }

    #[test]
    fn rejects_bad_input() {
        assert!(Pchip::new(&[1.0], &[1.0]).is_none());
        assert!(Pchip::new(&[1.0, 1.0], &[1.0, 2.0]).is_none());
        assert!(Pchip::new(&[1.0, f64::INFINITY], &[1.0, 2.0]).is_none());
        let two = Pchip::new(&[0.0, 10.0], &[-1.0, 1.0]).unwrap();
        assert!((two.root_in(0.0, 10.0).unwrap() - 5.0).abs() < 1e-9);
    }
}
