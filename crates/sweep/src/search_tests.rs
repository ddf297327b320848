use super::*;

/// Drive a search with a margin function; returns the answer and the number of
/// measurements.
/// Every value asked for after the first pass and the first failure lies strictly inside
/// the bracket they and later measurements make (the search keeps its bracket).
fn drive(mut s: Search, margin: impl Fn(f64) -> f64, throughput_at_inf: f64) -> (Answer, usize) {
    let (mut lo, mut hi) = (f64::NEG_INFINITY, f64::INFINITY);
    loop {
        match s.next() {
            Step::Done(a) => return (a, s.steps()),
            Step::Measure(v) => {
                if lo.is_finite() && hi.is_finite() && v.is_finite() {
                    assert!(lo < v && v < hi, "{v} outside the bracket ({lo}, {hi})");
                }
                let m = margin(if v.is_finite() { v } else { 1e9 });
                s.record(
                    v,
                    m,
                    m <= 0.0,
                    (!v.is_finite()).then_some(throughput_at_inf),
                );
                if v.is_finite() && m <= 0.0 {
                    lo = lo.max(v);
                } else if v.is_finite() && lo.is_finite() {
                    hi = hi.min(v);
                }
            }
        }
    }
}

/// vLLM's algorithm (serve_sla.py): values 1..=65536, max then min, then the integer part
/// of the PCHIP root (+1 if measured), until the bracket is adjacent.
fn vllm_search(margin: impl Fn(f64) -> f64) -> (Option<f64>, usize) {
    let (min, max) = (1.0, 65536.0);
    let mut hist: Vec<(f64, f64)> = Vec::new();
    let mut runs = 0;
    loop {
        let max_pass = hist
            .iter()
            .filter(|(_, m)| *m <= 0.0)
            .map(|(v, _)| *v)
            .fold(f64::NAN, f64::max);
        let max_pass = if max_pass.is_nan() { min } else { max_pass };
        let min_fail = hist
            .iter()
            .filter(|(_, m)| *m > 0.0)
            .map(|(v, _)| *v)
            .fold(f64::NAN, f64::min);
        let min_fail = if min_fail.is_nan() { max } else { min_fail };
        if hist.len() >= 2 && min_fail - max_pass <= 1.0 {
            break;
        }
        if runs >= 60 {
            break;
        }
        let mut val = match hist.len() {
            0 => max,
            1 => min,
            _ => {
                let mut pts = hist.clone();
                pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                let (x, y): (Vec<f64>, Vec<f64>) = pts.into_iter().unzip();
                let p = Pchip::new(&x, &y).unwrap();
                p.root_in(x[0], *x.last().unwrap())
                    .unwrap_or(max_pass)
                    .floor()
            }
        };
        if hist.iter().any(|(v, _)| *v == val) {
            val += 1.0;
        }
        let unclamped = val;
        val = val.clamp(min, max);
        let m = margin(val);
        runs += 1;
        hist.retain(|(v, _)| *v != val);
        hist.push((val, m));
        if unclamped != val {
            break;
        }
    }
    let ans = hist
        .iter()
        .filter(|(_, m)| *m <= 0.0)
        .map(|(v, _)| *v)
        .fold(f64::NAN, f64::max);
    (if ans.is_nan() { None } else { Some(ans) }, runs)
}

/// p99 latency against concurrency, as a serving system shows it: flat until a knee, then
/// linear (queueing); SLA "≤ target".
fn latency_margin(knee: f64, target: f64) -> impl Fn(f64) -> f64 {
    move |c: f64| {
        let c = c.min(1000.0); // the dataset has 1000 prompts
        let lat = 100.0 + 2.0 * c + 40.0 * (c - knee).max(0.0);
        (lat - target) / target
    }
}

#[test]
fn integer_search_finds_the_boundary() {
    for (knee, target) in [(16.0, 500.0), (64.0, 400.0), (5.0, 3000.0), (200.0, 900.0)] {
        let m = latency_margin(knee, target);
        let (a, steps) = drive(Search::new(Domain::Integer, 1.0, 1000.0, None), &m, 0.0);
        let v = a.value.expect("a value passes");
        assert!(m(v) <= 0.0 && m(v + 1.0) > 0.0, "knee {knee}: answer {v}");
        assert!(!a.unconverged && steps <= 12, "knee {knee}: {steps} steps");
    }
}

#[test]
fn fewer_runs_than_vllm() {
    let mut ours_total = 0;
    let mut vllm_total = 0;
    for knee in [4.0, 10.0, 30.0, 100.0, 300.0] {
        for target in [300.0, 800.0, 2000.0] {
            let m = latency_margin(knee, target);
            let (a, ours) = drive(Search::new(Domain::Integer, 1.0, 1000.0, None), &m, 0.0);
            let (v, theirs) = vllm_search(&m);
            // vLLM's range runs to 65536, where the margin is that of 1000 (the dataset size),
            // so it may call 65536 a pass; both agree below the dataset size.
            if let (Some(x), Some(y)) = (a.value, v)
                && y < 1000.0
            {
                assert_eq!(x, y, "knee {knee} target {target}");
            }
            ours_total += ours;
            vllm_total += theirs;
        }
    }
    eprintln!("measurements: ours {ours_total}, vLLM {vllm_total}");
    assert!(
        ours_total * 10 < vllm_total * 8,
        "ours {ours_total} vs vLLM {vllm_total}: at least 20% fewer"
    );
}

#[test]
fn edges_of_the_range() {
    let (a, steps) = drive(
        Search::new(Domain::Integer, 1.0, 1000.0, None),
        |_| -0.5,
        0.0,
    );
    assert_eq!((a.value, a.reached_max, steps), (Some(1000.0), true, 1));
    let (a, steps) = drive(
        Search::new(Domain::Integer, 1.0, 1000.0, None),
        |_| 0.5,
        0.0,
    );
    assert_eq!((a.value, a.reached_max, steps), (None, false, 2));
}

#[test]
fn real_search_to_tolerance_with_inf_as_the_top() {
    // Latency against request rate: explodes as the rate nears capacity (20 req/s).
    let m = |r: f64| {
        let rho = (r / 20.0).min(0.999);
        let lat = 50.0 / (1.0 - rho);
        (lat - 400.0) / 400.0
    };
    let (a, steps) = drive(
        Search::new(Domain::Real { rel_tol: 0.01 }, 1.0, f64::INFINITY, None),
        m,
        20.0,
    );
    let v = a.value.unwrap();
    assert!(
        m(v) <= 0.0 && m(v * 1.01) > 0.0 || m(v * 1.011) > 0.0,
        "answer {v}"
    );
    assert!((17.0..17.6).contains(&v), "{v}");
    assert!(steps <= 12, "{steps} steps");
}

#[test]
fn a_hint_saves_runs_when_close() {
    let m = latency_margin(30.0, 800.0);
    let (cold, cold_steps) = drive(Search::new(Domain::Integer, 1.0, 1000.0, None), &m, 0.0);
    let (warm, warm_steps) = drive(
        Search::new(
            Domain::Integer,
            1.0,
            1000.0,
            Some(cold.value.unwrap() - 2.0),
        ),
        &m,
        0.0,
    );
    assert_eq!(cold.value, warm.value);
    assert!(
        warm_steps < cold_steps,
        "hinted {warm_steps} vs {cold_steps}"
    );
}

#[test]
fn noisy_margins_still_end_with_a_bracket() {
    // Deterministic ±8% noise on the margin.
    let base = latency_margin(40.0, 700.0);
    let noisy = |c: f64| base(c) + 0.08 * ((c * 12.9898).sin() * 43758.5453).fract();
    for hint in [None, Some(20.0), Some(200.0)] {
        let (a, steps) = drive(Search::new(Domain::Integer, 1.0, 1000.0, hint), noisy, 0.0);
        assert!(steps <= MAX_STEPS);
        let v = a.value.unwrap();
        assert!(noisy(v) <= 0.0, "the answer passed when measured");
    }
}

#[test]
fn significant_digits() {
    assert_eq!(round_sig(12.34567, 4), 12.35);
    assert_eq!(round_sig(0.0123456, 3), 0.0123);
    assert_eq!(round_sig(98765.0, 2), 99000.0);
}

#[test]
fn a_finite_failure_is_found_past_the_saturation_throughput() {
    // The server sustains 10 req/s under an unlimited burst, which fails; finite rates
    // pass up to 50 req/s.
    let m = |r: f64| {
        if r.is_infinite() || r >= 1e9 {
            19.0
        } else {
            (10.0 * r - 500.0) / 500.0
        }
    };
    let mut s = Search::new(Domain::Real { rel_tol: 0.01 }, 1.0, f64::INFINITY, None);
    let mut seen = Vec::new();
    let answer = loop {
        match s.next() {
            Step::Done(a) => break a,
            Step::Measure(v) => {
                seen.push(v);
                let mm = m(v);
                s.record(v, mm, mm <= 0.0, Some(10.0));
            }
        }
    };
    let v = answer.value.unwrap();
    assert!((49.5..=50.0).contains(&v), "{v} after {seen:?}");
    assert!(!answer.unconverged, "{seen:?}");
}

/// A margin function.
type Margin = Box<dyn Fn(f64) -> f64>;
/// A named family of margin functions.
type Family = (&'static str, Vec<Margin>);

/// The synthetic margin cases of the step-count table in docs/ARCHITECTURE.md: each a
/// family of (name, margin) over `max_concurrency` in 1..=1000.
fn integer_cases() -> Vec<Family> {
    let rel = |lat: f64, target: f64| (lat - target) / target;
    let mut out: Vec<Family> = Vec::new();
    out.push((
        "linear",
        [333.0, 777.0, 2222.0, 4111.0]
            .into_iter()
            .map(|t| Box::new(move |c: f64| rel(100.0 + 5.0 * c, t)) as Margin)
            .collect(),
    ));
    out.push((
        "convex (flat, then a knee)",
        [4.0, 10.0, 30.0, 100.0, 300.0]
            .into_iter()
            .flat_map(|k| [300.0, 800.0, 2000.0].map(move |t| (k, t)))
            .map(|(k, t)| Box::new(latency_margin(k, t)) as Margin)
            .collect(),
    ));
    out.push((
        "concave (square root)",
        [300.0, 800.0, 1500.0, 2500.0]
            .into_iter()
            .map(|t| Box::new(move |c: f64| rel(80.0 * c.sqrt(), t)) as Margin)
            .collect(),
    ));
    out.push((
        "step",
        [7.0, 50.0, 333.0, 901.0]
            .into_iter()
            .map(|s| Box::new(move |c: f64| if c < s { -0.3 } else { 0.3 }) as Margin)
            .collect(),
    ));
    out.push((
        "noisy (knee ±8%)",
        [300.0, 700.0, 1500.0]
            .into_iter()
            .flat_map(|t| [10.0, 40.0, 150.0].map(move |k| (k, t)))
            .map(|(k, t)| {
                let base = latency_margin(k, t);
                Box::new(move |c: f64| base(c) + 0.08 * ((c * 12.9898).sin() * 43758.5453).fract())
                    as Margin
            })
            .collect(),
    ));
    out
}

/// Steps per case family: ours, and vLLM's algorithm over 1..=65536.
fn integer_table() -> Vec<(&'static str, usize, usize, usize)> {
    integer_cases()
        .into_iter()
        .map(|(name, fs)| {
            let n = fs.len();
            let (mut ours, mut theirs) = (0, 0);
            for f in &fs {
                let (a, s) = drive(Search::new(Domain::Integer, 1.0, 1000.0, None), f, 0.0);
                assert!(s <= MAX_STEPS, "{name}: {s} steps");
                let v = a.value.expect("a value passes");
                assert!(f(v) <= 0.0, "{name}: the answer {v} passed when measured");
                let (vllm_value, vllm_steps) = vllm_search(f);
                if !name.starts_with("noisy") {
                    // Monotone: the largest passing value, the one vLLM finds too.
                    assert!(f(v + 1.0) > 0.0 && !a.unconverged, "{name}: {v}");
                    if let Some(y) = vllm_value.filter(|y| *y < 1000.0) {
                        assert_eq!(v, y, "{name}: vLLM's answer");
                    }
                }
                ours += s;
                theirs += vllm_steps;
            }
            (name, n, ours, theirs)
        })
        .collect()
}

/// Steps of `request_rate` searches (1..inf, 1% tolerance) per family.
fn real_table() -> Vec<(&'static str, usize, usize)> {
    let rel = |lat: f64, target: f64| (lat - target) / target;
    let fam: Vec<Family> = vec![
        (
            "linear",
            [333.0, 777.0, 2222.0]
                .into_iter()
                .map(|t| Box::new(move |r: f64| rel(100.0 + 5.0 * r.min(1e6), t)) as Margin)
                .collect(),
        ),
        (
            "convex (queueing, 20 req/s)",
            [150.0, 400.0, 1200.0]
                .into_iter()
                .map(|t| {
                    Box::new(move |r: f64| rel(50.0 / (1.0 - (r / 20.0).min(0.999)), t)) as Margin
                })
                .collect(),
        ),
        (
            "step",
            [3.3, 17.7, 61.0]
                .into_iter()
                .map(|s| Box::new(move |r: f64| if r < s { -0.3 } else { 0.3 }) as Margin)
                .collect(),
        ),
    ];
    fam.into_iter()
        .map(|(name, fs)| {
            let n = fs.len();
            let mut steps = 0;
            for f in &fs {
                let (a, s) = drive(
                    Search::new(Domain::Real { rel_tol: 0.01 }, 1.0, f64::INFINITY, None),
                    f,
                    20.0,
                );
                assert!(!a.unconverged, "{name}");
                let v = a.value.expect("a value passes");
                // The largest passing value, to the tolerance.
                assert!(f(v) <= 0.0 && f(v * 1.01) > 0.0, "{name}: {v}");
                steps += s;
            }
            (name, n, steps)
        })
        .collect()
}

/// The step counts of docs/ARCHITECTURE.md's table. A change to the search that costs
/// measurements fails here; one that saves some must update the table.
#[test]
fn step_count_table() {
    let ints = integer_table();
    let reals = real_table();
    for (name, n, ours, theirs) in &ints {
        eprintln!("max_concurrency {name:28} cases {n:2}  ours {ours:3}  vLLM {theirs:3}");
    }
    for (name, n, ours) in &reals {
        eprintln!("request_rate    {name:28} cases {n:2}  ours {ours:3}");
    }
    let got: Vec<usize> = ints
        .iter()
        .map(|t| t.2)
        .chain(reals.iter().map(|t| t.2))
        .collect();
    assert_eq!(
        got,
        [16, 117, 27, 45, 77, 30, 30, 36],
        "update docs/ARCHITECTURE.md"
    );
    let vllm: Vec<usize> = ints.iter().map(|t| t.3).collect();
    assert_eq!(vllm, [16, 226, 86, 62, 83]);
}
