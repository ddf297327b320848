//! The client's per-chunk hot path against a `serde_json::Value` baseline, on the exact bytes
//! `llmsweep sim` streams (vLLM's chunk shapes).
//!
//! - `chunk_classify/{completions,chat}`: one token chunk's JSON, read by the borrowing
//!   scanner (`llmsweep_bench::chunk::classify`) or parsed into a `Value` and read by the
//!   same rules.
//! - `client_stream/{completions,chat}`: a whole 256-token response, one HTTP chunk per read,
//!   through `BodyDecoder` → `SseDecoder` → chunk reader → per-request tally; only the chunk
//!   reader differs. Throughput is in SSE events.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use llmsweep_bench::chunk::ChunkApi;
use llmsweep_micro::client;

const TOKENS: u32 = 256;

fn apis() -> [(&'static str, ChunkApi); 2] {
    [
        ("completions", ChunkApi::Completions),
        ("chat", ChunkApi::Chat),
    ]
}

fn chunk_classify(c: &mut Criterion) {
    for (name, api) in apis() {
        let events = client::sse_events(api, TOKENS);
        // A token chunk from the middle of the stream.
        let chunk = client::payload(&events[events.len() / 2]).to_vec();
        let mut group = c.benchmark_group(format!("chunk_classify/{name}"));
        group.throughput(Throughput::Elements(1));
        group.bench_function("borrowing_scanner", |b| {
            b.iter(|| client::scan(black_box(&chunk), api).unwrap())
        });
        group.bench_function("serde_json_value", |b| {
            b.iter(|| client::value(black_box(&chunk), api).unwrap())
        });
        group.finish();
    }
}

fn client_stream(c: &mut Criterion) {
    let head = client::stream_head();
    for (name, api) in apis() {
        let events = client::sse_events(api, TOKENS);
        let reads = client::chunked_reads(&events);
        let mut group = c.benchmark_group(format!("client_stream/{name}"));
        group.throughput(Throughput::Elements(events.len() as u64));
        group.bench_function("borrowing_scanner", |b| {
            b.iter(|| client::read_stream(&head, black_box(&reads), api, client::scan))
        });
        group.bench_function("serde_json_value", |b| {
            b.iter(|| client::read_stream(&head, black_box(&reads), api, client::value))
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = chunk_classify, client_stream
}
criterion_main!(benches);
