//! The summary statistics of a bench result on 100,000 samples (mean, median, std and the
//! percentiles 25, 50, 75, 90, 95, 99): `llmsweep_bench::stats::Summary::of` (one sort)
//! against sorting a fresh copy per percentile, and against a linear-time selection per
//! percentile. All three return bit-identical summaries (tested in `src/lib.rs`).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use llmsweep_bench::stats::Summary;
use llmsweep_micro::stats::{PERCENTILES, samples, select_per_percentile, sort_per_percentile};

const N: usize = 100_000;

fn summary(c: &mut Criterion) {
    let xs = samples(N);
    let mut group = c.benchmark_group("summary_100k");
    group.throughput(Throughput::Elements(N as u64));
    group.bench_function("summary_of", |b| {
        b.iter(|| Summary::of(black_box(&xs), &PERCENTILES))
    });
    group.bench_function("sort_per_percentile", |b| {
        b.iter(|| sort_per_percentile(black_box(&xs), &PERCENTILES))
    });
    group.bench_function("select_per_percentile", |b| {
        b.iter(|| select_per_percentile(black_box(&xs), &PERCENTILES))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5))
        .sample_size(20);
    targets = summary
}
criterion_main!(benches);
