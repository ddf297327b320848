//! The simulator's engine step in virtual time (no sockets, no sleeping), in a decode steady
//! state with 256 and 1,000 running sequences, against the `fixed` profile's engine emitting
//! the same tokens (one per sequence per event) with no scheduler, KV blocks or step-time model.
//!
//! Each iteration clones a prepared snapshot (not timed) and advances it by `STEPS` events, so
//! every iteration measures the same steps; throughput is in engine steps. The step engine's
//! virtual step length is printed, so the headroom over real time (virtual step length ÷
//! measured time per step) can be read off the same run.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use llmsweep_micro::sim;

/// Engine steps per iteration: one block's worth (block size 16), so block allocation and
/// prefix-cache registration of generated tokens happen once per sequence per iteration.
const STEPS: usize = 16;

fn sim_step(c: &mut Criterion) {
    for running in [256, 1000] {
        let engines = [
            (
                "step_engine",
                sim::decode_snapshot(&sim::step_engine(), running),
            ),
            (
                "fixed_engine",
                sim::decode_snapshot(&sim::fixed_engine(), running),
            ),
        ];
        let mut group = c.benchmark_group(format!("sim_step/{running}_running"));
        group.throughput(Throughput::Elements(STEPS as u64));
        for (name, snapshot) in &engines {
            let mut probe = snapshot.clone();
            let mut out = Vec::with_capacity(running);
            let (_, t0) = sim::step(&mut probe, &mut out);
            let (_, t1) = sim::step(&mut probe, &mut out);
            eprintln!(
                "sim_step/{running}_running/{name}: virtual step length {:.3} ms",
                (t1 - t0) as f64 / 1e6
            );
            group.bench_function(*name, |b| {
                b.iter_batched(
                    || (snapshot.clone(), Vec::with_capacity(running)),
                    |(mut s, mut out)| {
                        let mut tokens = 0;
                        for _ in 0..STEPS {
                            tokens += sim::step(&mut s, &mut out).0;
                        }
                        assert_eq!(tokens, STEPS * running);
                        black_box(s)
                    },
                    BatchSize::SmallInput,
                )
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    targets = sim_step
}
criterion_main!(benches);
