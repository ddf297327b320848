use super::*;

/// Drive a search with a margin function; returns the answer and the number of
/// measurements.
fn drive(mut s: Search, margin: impl Fn(f64) -> f64, throughput_at_inf: f64) -> (Answer, usize) {
    loop {
        match s.next() {
            Step::Done(a) => return (a, s.steps()),
            Step::Measure(v) => {
                let m = margin(if v.is_finite() { v } else { 1e9 });
                s.record(
                    v,
                    m,
                    m <= 0.0,
                    (!v.is_finite()).then_some(throughput_at_inf),
                );
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
