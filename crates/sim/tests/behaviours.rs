//! The sixteen behaviours of sim-model.md §3, checked in virtual time. Every check is an
//! ordering or a ratio with a tolerance, on virtual timestamps: no wall clock is read.

use llmsweep_sim::config::{SimConfig, SimOptions, resolve};
use llmsweep_sim::startup::{PhaseKind, StartupInputs, plan_startup};
use llmsweep_sim::virtual_run::{
    Arrivals, RequestRecord, RunOptions, RunReport, WorkItem, quantile, run,
};

const MS: f64 = 1e-3;
const SEC: u64 = 1_000_000_000;

fn config(profile: &str, tweak: impl FnOnce(&mut SimOptions)) -> SimConfig {
    let mut o = SimOptions {
        profile: Some(profile.into()),
        ..SimOptions::default()
    };
    tweak(&mut o);
    resolve(&o).unwrap()
}

fn llama8b(tweak: impl FnOnce(&mut SimOptions)) -> SimConfig {
    config("llama-3-8b-h100", tweak)
}

fn items(n: usize, prompt: u32, output: u32) -> Vec<WorkItem> {
    (0..n as u64)
        .map(|i| WorkItem::random(i, prompt, output))
        .collect()
}

fn closed(c: &SimConfig, concurrency: usize, n: usize, prompt: u32, output: u32) -> RunReport {
    run(
        c,
        &items(n, prompt, output),
        &Arrivals::closed_loop(concurrency),
        &RunOptions {
            record_steps: true,
            ..RunOptions::default()
        },
    )
}

fn mean(report: &RunReport, f: impl Fn(&RequestRecord) -> Option<f64>) -> f64 {
    report.mean_over(0, u64::MAX, f)
}

fn values(report: &RunReport, f: impl Fn(&RequestRecord) -> Option<f64>) -> Vec<f64> {
    report.finished().filter_map(f).collect()
}

/// Output tokens/s over the middle half of the run (after warm-up, before the tail).
fn steady_rate(r: &RunReport) -> f64 {
    r.output_rate(r.end_ns / 4, r.end_ns * 3 / 4)
}

#[test]
fn b01_batch_one_floor() {
    let r = closed(&llama8b(|_| {}), 1, 3, 128, 64);
    let tpot = mean(&r, RequestRecord::tpot_s);
    assert!((tpot - 6.6 * MS).abs() < 0.66 * MS, "TPOT {tpot}");
    let ttft = mean(&r, RequestRecord::ttft_s);
    assert!(ttft < 20.0 * MS, "TTFT {ttft}");
}

#[test]
fn b02_tpot_rises_with_batch_and_context() {
    let c = llama8b(|_| {});
    let tpot = |conc| {
        mean(
            &closed(&c, conc, conc * 2, 1024, 128),
            RequestRecord::tpot_s,
        )
    };
    let (t1, t16, t64) = (tpot(1), tpot(16), tpot(64));
    assert!(t64 > t16 && t16 > t1, "{t1} {t16} {t64}");

    // 64 sequences decoding together: 2k → 4k context adds ≈ 64·2048·c_kv ≈ 5.8 ms/step.
    let decode_step = |prompt| {
        let r = run(
            &c,
            &items(64, prompt, 128),
            &Arrivals::At(vec![0; 64]),
            &RunOptions {
                record_steps: true,
                ..RunOptions::default()
            },
        );
        let full: Vec<f64> = r
            .steps
            .iter()
            .filter(|s| s.decodes == 64)
            .map(|s| (s.end_ns - s.start_ns) as f64 / 1e9)
            .collect();
        assert!(full.len() > 20);
        full.iter().sum::<f64>() / full.len() as f64
    };
    let delta = decode_step(4096) - decode_step(2048);
    assert!((delta - 5.8 * MS).abs() < 0.6 * MS, "delta {delta}");
}

#[test]
fn b03_throughput_saturates() {
    let c = llama8b(|o| o.max_num_seqs = Some(256));
    let runs: Vec<(usize, RunReport)> = [1, 16, 64, 256, 512]
        .into_iter()
        .map(|conc| (conc, closed(&c, conc, (conc * 3).max(24), 1024, 256)))
        .collect();
    let x: Vec<f64> = runs.iter().map(|(_, r)| steady_rate(r)).collect();
    // Concave: each step up in concurrency gains less per added client.
    for w in runs.windows(3).zip(x.windows(3)) {
        let ((a, b, cc), (xa, xb, xc)) = ((w.0[0].0, w.0[1].0, w.0[2].0), (w.1[0], w.1[1], w.1[2]));
        let slope1 = (xb - xa) / (b - a) as f64;
        let slope2 = (xc - xb) / (cc - b) as f64;
        assert!(slope2 < slope1, "not concave at {a},{b},{cc}: {x:?}");
    }
    // Past the knee: doubling C adds < 10 % throughput while mean latency roughly doubles.
    assert!(x[4] < 1.10 * x[3], "{x:?}");
    let e2e = |i: usize| mean(&runs[i].1, RequestRecord::e2e_s);
    assert!(e2e(4) > 1.7 * e2e(3), "E2E {} → {}", e2e(3), e2e(4));
    // Little's law in steady state: C = request rate × E2E within 5 %.
    let (conc, r) = &runs[3];
    let req_rate = x[3] / 256.0;
    let e2e_mid = r.mean_over(r.end_ns / 4, r.end_ns / 2, RequestRecord::e2e_s);
    let little = req_rate * e2e_mid;
    assert!(
        (little / *conc as f64 - 1.0).abs() < 0.05,
        "C·X·E2E = {little}"
    );
}

#[test]
fn b04_ttft_explodes_past_saturation() {
    let c = llama8b(|o| o.max_num_seqs = Some(256));
    // Capacity of this mix ≈ 5.6k tok/s ÷ 256 ≈ 21.8 req/s (behaviour 3).
    let capacity = 21.8;
    let poisson = |rate: f64, n: usize| {
        run(
            &c,
            &items(n, 1024, 256),
            &Arrivals::Poisson {
                rate_per_s: rate,
                seed: 3,
            },
            &RunOptions {
                record_steps: true,
                stop_at_ns: Some(60 * SEC),
            },
        )
    };
    let idle = poisson(0.5, 10);
    let low_ttft = quantile(&values(&idle, RequestRecord::ttft_s), 0.5);

    let light = poisson(0.8 * capacity, 1000);
    let ttft_in = |r: &RunReport, from: u64, to: u64| {
        let xs: Vec<f64> = r
            .finished()
            .filter(|q| (from..to).contains(&q.arrival_ns))
            .filter_map(RequestRecord::ttft_s)
            .collect();
        (quantile(&xs, 0.5), quantile(&xs, 0.99))
    };
    let (_, p99_early) = ttft_in(&light, 5 * SEC, 25 * SEC);
    let (_, p99_late) = ttft_in(&light, 25 * SEC, 45 * SEC);
    assert!(
        p99_early < 5.0 * low_ttft && p99_late < 5.0 * low_ttft,
        "{p99_early} {p99_late} vs {low_ttft}"
    );
    assert!(p99_late < 1.5 * p99_early.max(low_ttft));

    let heavy = poisson(1.2 * capacity, 2000);
    let (m1, _) = ttft_in(&heavy, 10 * SEC, 20 * SEC);
    let (m2, _) = ttft_in(&heavy, 20 * SEC, 30 * SEC);
    let (m3, _) = ttft_in(&heavy, 30 * SEC, 40 * SEC);
    assert!(m3 > m2 && m2 > m1 && m3 > 10.0 * low_ttft, "{m1} {m2} {m3}");
    let waiting_at = |t: u64| {
        heavy
            .steps
            .iter()
            .rfind(|s| s.start_ns <= t)
            .map_or(0, |s| s.waiting)
    };
    assert!(
        waiting_at(50 * SEC) > waiting_at(30 * SEC) && waiting_at(30 * SEC) > waiting_at(10 * SEC)
    );
}

#[test]
fn b05_max_num_seqs_caps_concurrency() {
    let run_with = |seqs| {
        closed(
            &config("tiny", |o| o.max_num_seqs = Some(seqs)),
            64,
            256,
            256,
            64,
        )
    };
    let capped = run_with(16);
    assert!(capped.steps.iter().all(|s| s.running <= 16));
    assert!(capped.steps.iter().any(|s| s.running == 16));
    let wide = run_with(64);
    // The 48 clients over the cap wait in the queue; with room for all, nobody does long.
    let queue = |r: &RunReport| {
        let q = &r.sim.metrics().queue;
        q.sum() / q.count() as f64
    };
    assert!(
        queue(&capped) > 5.0 * queue(&wide).max(1e-6),
        "{} vs {}",
        queue(&capped),
        queue(&wide)
    );
    assert!(steady_rate(&wide) > 1.2 * steady_rate(&capped));
    assert!(mean(&wide, RequestRecord::ttft_s) < 0.5 * mean(&capped, RequestRecord::ttft_s));
}

#[test]
fn b06_token_budget_trades_ttft_against_itl() {
    let at_budget = |budget| {
        let c = llama8b(|o| o.max_num_batched_tokens = Some(budget));
        run(
            &c,
            &items(80, 4096, 256),
            &Arrivals::Poisson {
                rate_per_s: 4.0,
                seed: 11,
            },
            &RunOptions::default(),
        )
    };
    let (small, large) = (at_budget(1024), at_budget(8192));
    let ttft_p50 = |r: &RunReport| quantile(&values(r, RequestRecord::ttft_s), 0.5);
    let itl_p99 = |r: &RunReport| {
        let xs: Vec<f64> = r
            .finished()
            .flat_map(|q| q.itls_s().collect::<Vec<_>>())
            .collect();
        quantile(&xs, 0.99)
    };
    assert!(
        ttft_p50(&large) < ttft_p50(&small),
        "{} {}",
        ttft_p50(&large),
        ttft_p50(&small)
    );
    assert!(
        itl_p99(&large) > 2.0 * itl_p99(&small),
        "{} {}",
        itl_p99(&large),
        itl_p99(&small)
    );

    // A budget below P: the first token needs ≥ ceil(P/budget) steps.
    let c = llama8b(|o| o.max_num_batched_tokens = Some(1024));
    let r = closed(&c, 1, 1, 4096, 2);
    let first = r.requests[0].emissions[0].0;
    assert!(r.steps.iter().filter(|s| s.end_ns < first).count() >= 4);
}

#[test]
fn b07_prefill_interference_hits_exactly_its_steps() {
    let c = llama8b(|_| {});
    let mut work = items(32, 512, 2000);
    work.push(WorkItem::random(999, 16_384, 4));
    let mut times = vec![0; 32];
    times.push(SEC);
    let r = run(
        &c,
        &work,
        &Arrivals::At(times),
        &RunOptions {
            record_steps: true,
            ..RunOptions::default()
        },
    );
    let dur = |s: &llmsweep_sim::engine::StepRecord| (s.end_ns - s.start_ns) as f64 / 1e9;
    let (chunk_steps, decode_steps): (Vec<_>, Vec<_>) = r
        .steps
        .iter()
        .filter(|s| s.start_ns > SEC / 2 && s.start_ns < 3 * SEC)
        .partition(|s| s.tokens > 64);
    // 16 384 tokens at budget 8192 minus the 32 decodes: two big chunks and a small tail.
    assert!(
        chunk_steps.len() >= 2 && chunk_steps.len() <= 3,
        "{chunk_steps:?}"
    );
    let (d1, d2) = (dur(chunk_steps[0]), dur(chunk_steps[1]));
    assert!(
        (0.19..0.24).contains(&d1) && (0.26..0.31).contains(&d2),
        "{d1} {d2}"
    );
    let ttft = r.requests[32].ttft_s().unwrap();
    assert!((0.45..0.62).contains(&ttft), "TTFT {ttft}");
    // Every other step is a plain decode step of the usual length.
    let base = dur(decode_steps[0]);
    assert!(decode_steps.iter().all(|s| dur(s) < 1.2 * base), "{base}");
    // The decodes' worst gap is one chunk step.
    let worst_gap = r.requests[0].itls_s().fold(0.0f64, f64::max);
    assert!((worst_gap - d2).abs() < 0.02, "{worst_gap} vs {d2}");
}

#[test]
fn b08_prefix_caching() {
    let shared = |caching: bool, share: bool| {
        let c = llama8b(|o| o.enable_prefix_caching = Some(caching));
        let work: Vec<WorkItem> = (0..128)
            .map(|i| {
                let prefix_seed = if share { 7 } else { 1000 + i };
                WorkItem::with_prefix(prefix_seed, 900, i, 1000, 16)
            })
            .collect();
        run(
            &c,
            &work,
            &Arrivals::closed_loop(16),
            &RunOptions::default(),
        )
    };
    let on = shared(true, true);
    // After the first wave (16 requests computing the prefix together), every request
    // finds the 900 shared tokens except the partial last block: 896 of 1000.
    for r in &on.requests[16..] {
        assert_eq!(r.cached_tokens, 896, "request {}", r.index);
    }
    let m = on.sim.metrics();
    let cached: u64 = on.requests.iter().map(|r| u64::from(r.cached_tokens)).sum();
    assert_eq!((m.prefix_hits, m.prefix_queries), (cached, 128_000));
    assert!(m.prefix_hits as f64 / m.prefix_queries as f64 > 0.75);
    let off = shared(false, true);
    assert_eq!(off.sim.metrics().prefix_hits, 0);
    let ttft_on = mean(&on, RequestRecord::ttft_s);
    let ttft_off = mean(&off, RequestRecord::ttft_s);
    assert!(ttft_on < 0.6 * ttft_off, "{ttft_on} vs {ttft_off}");
    // Caching off: sharing does not matter at all.
    let off_unshared = shared(false, false);
    assert_eq!(
        mean(&off, RequestRecord::e2e_s),
        mean(&off_unshared, RequestRecord::e2e_s)
    );
    // Prefill-heavy mix: caching raises the sustainable rate.
    assert!(steady_rate(&on) > 1.3 * steady_rate(&off));
}

#[test]
fn b09_kv_pressure() {
    let cap = |util| {
        llama8b(|o| {
            o.gpu_memory_utilization = Some(util);
            o.max_model_len = Some(8192);
        })
        .memory
        .unwrap()
        .capacity_tokens as f64
    };
    assert!((cap(0.9) - 438e3).abs() < 13e3 && (cap(0.3) - 49e3).abs() < 3e3);
    let load = |util| {
        let c = llama8b(|o| {
            o.gpu_memory_utilization = Some(util);
            o.max_num_seqs = Some(128);
            o.max_model_len = Some(8192);
        });
        closed(&c, 128, 384, 1024, 256)
    };
    let (roomy, tight) = (load(0.9), load(0.3));
    assert_eq!(roomy.sim.metrics().preemptions, 0);
    assert!(tight.sim.metrics().preemptions > 0);
    let peak = |r: &RunReport| r.steps.iter().map(|s| s.running).max().unwrap_or(0);
    assert_eq!(peak(&roomy), 128);
    assert!(peak(&tight) < 128, "{}", peak(&tight));
    assert!(steady_rate(&tight) < 0.8 * steady_rate(&roomy));
    // Below the weight footprint, or max_model_len above capacity: refused at start.
    let refuse = |f: fn(&mut SimOptions)| {
        let mut o = SimOptions::default();
        f(&mut o);
        resolve(&o).unwrap_err().to_string()
    };
    assert!(refuse(|o| o.gpu_memory_utilization = Some(0.15)).contains("No available memory"));
    assert!(
        refuse(|o| o.gpu_memory_utilization = Some(0.25))
            .contains("larger than the maximum number of tokens")
    );
}

#[test]
fn b10_tensor_parallelism() {
    let c = |tp| {
        config("llama-3-70b-h100-tp4", |o| {
            o.tensor_parallel_size = Some(tp);
            o.max_model_len = Some(8192);
        })
    };
    let tpot = |tp| mean(&closed(&c(tp), 1, 2, 128, 64), RequestRecord::tpot_s);
    let (t2, t4, t8) = (tpot(2), tpot(4), tpot(8));
    assert!(t8 < t4 && t4 < t2, "{t2} {t4} {t8}");
    assert!(t4 / t2 > 0.5);
    let cap = |tp| c(tp).memory.unwrap().capacity_tokens;
    assert!(cap(4) > 2 * cap(2));
}

#[test]
fn b11_long_prompts() {
    let c = llama8b(|_| {});
    let ttft = |p| closed(&c, 1, 1, p, 2).requests[0].ttft_s().unwrap();
    let (t1, t2, t4, t8, t32) = (ttft(1024), ttft(2048), ttft(4096), ttft(8192), ttft(32_768));
    // Near-linear up to 8k …
    let slope_low = (t2 - t1) / 1024.0;
    let slope_high = (t8 - t4) / 4096.0;
    assert!(
        slope_high / slope_low > 0.9 && slope_high / slope_low < 1.3,
        "{slope_low} {slope_high}"
    );
    // … then faster than linear: attention.
    assert!(t32 > 4.5 * t8, "{t32} vs {t8}");
}

#[test]
fn b12_e2e_grows_linearly_with_output_length() {
    let c = llama8b(|_| {});
    let at = |out| closed(&c, 16, 64, 512, out);
    let (short, long) = (at(256), at(512));
    let tpot = mean(&short, RequestRecord::tpot_s);
    let delta = mean(&long, RequestRecord::e2e_s) - mean(&short, RequestRecord::e2e_s);
    assert!(
        (delta / (256.0 * tpot) - 1.0).abs() < 0.05,
        "{delta} vs {}",
        256.0 * tpot
    );
}

#[test]
fn b13_closed_loop_waves() {
    let c = llama8b(|_| {});
    let (conc, prompt, out) = (24, 2048, 64);
    let waves = closed(&c, conc, conc * 6, prompt, out);
    // Everyone in a wave waits for the whole wave's prefill: C·P tokens.
    let coeffs = c.coefficients.unwrap();
    let wave_prefill = conc as f64 * coeffs.prefill_seconds(prompt.into(), 8192);
    let first_wave = quantile(&values(&waves, RequestRecord::ttft_s)[..conc], 1.0);
    assert!(
        first_wave > 0.8 * wave_prefill,
        "{first_wave} vs {wave_prefill}"
    );
    // It persists run after run: the last wave still waits like the first.
    let ttfts = values(&waves, RequestRecord::ttft_s);
    let last_wave = quantile(&ttfts[ttfts.len() - conc..], 0.5);
    assert!(
        last_wave > 0.5 * quantile(&ttfts[..conc], 0.5),
        "{last_wave}"
    );
    // Poisson arrivals at the same request rate see far lower TTFT.
    let rate = conc as f64 / mean(&waves, RequestRecord::e2e_s);
    let poisson = run(
        &c,
        &items(conc * 6, prompt, out),
        &Arrivals::Poisson {
            rate_per_s: rate,
            seed: 5,
        },
        &RunOptions::default(),
    );
    let p50 = |r: &RunReport| quantile(&values(r, RequestRecord::ttft_s), 0.5);
    assert!(
        p50(&poisson) < 0.5 * p50(&waves),
        "{} vs {}",
        p50(&poisson),
        p50(&waves)
    );
}

#[test]
fn b14_startup() {
    let start = |c: &SimConfig, warm| {
        plan_startup(&StartupInputs {
            weight_bytes: c.profile.arch.weight_bytes(),
            gpus: c.parallelism.tp * c.parallelism.pp,
            enforce_eager: c.enforce_eager,
            warm,
            scale: 1.0,
            seed: 0,
        })
    };
    let base = llama8b(|_| {});
    let eager = llama8b(|o| o.enforce_eager = true);
    let big = config("llama-3-70b-h100-tp4", |_| {});
    assert!(start(&base, false).total_seconds() > start(&base, true).total_seconds());
    assert!(start(&eager, false).total_seconds() < start(&base, false).total_seconds());
    assert_eq!(start(&eager, false).seconds(PhaseKind::Graphs), 0.0);
    assert!(start(&big, false).total_seconds() > start(&base, false).total_seconds());
    assert!(start(&big, true).total_seconds() > start(&base, true).total_seconds());
    // Eager mode pays for it at small batch.
    let tpot = |c: &SimConfig| mean(&closed(c, 1, 2, 128, 64), RequestRecord::tpot_s);
    assert!(tpot(&eager) > tpot(&base) * 1.2);
}

#[test]
fn b15_determinism() {
    let c = llama8b(|o| {
        o.step_jitter = Some(0.05);
        o.gpu_memory_utilization = Some(0.3);
        o.max_model_len = Some(8192);
    });
    let go = || {
        let r = run(
            &c,
            &items(200, 700, 300),
            &Arrivals::Poisson {
                rate_per_s: 30.0,
                seed: 9,
            },
            &RunOptions::default(),
        );
        let text = r.sim.render_metrics("m");
        (r.requests, text)
    };
    let (a, ta) = go();
    let (b, tb) = go();
    assert_eq!(a, b);
    assert_eq!(ta, tb);
    assert!(ta.contains("vllm:num_preemptions_total{engine=\"0\",model_name=\"m\"} "));
}

#[test]
fn b16_metric_consistency() {
    let c = config("tiny", |o| o.gpu_memory_utilization = Some(0.5));
    let r = closed(&c, 48, 200, 300, 80);
    let m = r.sim.metrics();
    let generated: u64 = r.finished().map(|q| u64::from(q.output_tokens())).sum();
    assert_eq!(m.generation_tokens, generated);
    let finished = r.finished().count() as u64;
    assert_eq!(finished, 200);
    assert_eq!((m.ttft.count(), m.e2e.count()), (finished, finished));
    assert_eq!(m.itl.count(), generated - finished);
    // The per-request families count each finished request once.
    for h in [
        &m.queue,
        &m.prefill,
        &m.decode,
        &m.inference,
        &m.request_tpot,
        &m.request_prompt_tokens,
        &m.request_generation_tokens,
    ] {
        assert_eq!(h.count(), finished);
    }
    assert_eq!(m.request_generation_tokens.sum(), generated as f64);
    assert!(r.steps.iter().all(|s| (0.0..=1.0).contains(&s.kv_usage)));
    assert!(r.steps.iter().any(|s| s.kv_usage > 0.5));
    assert!(m.preemptions > 0, "the test should exercise preemption");
    assert_eq!(r.sim.gauges().running + r.sim.gauges().waiting, 0);
}

#[test]
fn data_parallel_replicas_split_the_load() {
    let at = |dp| {
        closed(
            &config("tiny", |o| o.data_parallel_size = Some(dp)),
            64,
            256,
            256,
            64,
        )
    };
    let (one, two) = (at(1), at(2));
    // Each replica has its own max_num_seqs (32): two of them run all 64 streams.
    assert!(one.steps.iter().all(|s| s.running <= 32));
    assert!(two.steps.iter().any(|s| s.replica == 1));
    assert!(steady_rate(&two) > 1.6 * steady_rate(&one));
    assert!(mean(&two, RequestRecord::ttft_s) < 0.5 * mean(&one, RequestRecord::ttft_s));
}

#[test]
fn pipeline_parallel_adds_memory_not_speed() {
    let c = |pp| {
        config("llama-3-70b-h100-tp4", |o| {
            o.pipeline_parallel_size = Some(pp);
            o.gpu_memory_utilization = Some(0.6);
        })
    };
    let cap = |pp| c(pp).memory.unwrap().capacity_tokens;
    assert!(cap(2) > 3 * cap(1), "{} vs {}", cap(2), cap(1));
    let tpot = |pp| mean(&closed(&c(pp), 1, 2, 128, 64), RequestRecord::tpot_s);
    assert!(tpot(2) >= tpot(1));
    assert!(tpot(2) < 1.05 * tpot(1));
}
