//! A fixed-timing OpenAI-compatible streaming server for the client speed benchmark
//! (bench/client/): TTFT, then one token per ITL, N tokens, on absolute deadlines.
//!
//! ```text
//! cargo run --release -p llmsweep-bench --example fixed_server -- --port 8123 --ttft-ms 50 --itl-ms 10 --tokens 100
//! ```
//! `--tokens 0` honours each request's `max_tokens`. It runs until killed (or `--max-secs`).

use std::time::Duration;

use llmsweep_bench::testserver::{Behaviour, TestServer};

fn main() -> Result<(), String> {
    let mut port = 8123u16;
    let mut ttft_ms = 50.0;
    let mut itl_ms = 10.0;
    let mut tokens = 100usize;
    let mut max_secs = 3600u64;
    let mut threads = 1usize;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--port" => port = value.parse().map_err(|e| bad(&e))?,
            "--ttft-ms" => ttft_ms = value.parse().map_err(|e| bad(&e))?,
            "--itl-ms" => itl_ms = value.parse().map_err(|e| bad(&e))?,
            "--tokens" => tokens = value.parse().map_err(|e| bad(&e))?,
            "--max-secs" => max_secs = value.parse().map_err(|e| bad(&e))?,
            "--threads" => threads = value.parse().map_err(|e| bad(&e))?,
            other => {
                return Err(format!(
                    "unknown flag {other} (expected --port, --ttft-ms, --itl-ms, --tokens, --max-secs, --threads)"
                ));
            }
        }
    }
    let behaviour = Behaviour {
        ttft: Duration::from_secs_f64(ttft_ms / 1000.0),
        itl: Duration::from_secs_f64(itl_ms / 1000.0),
        tokens: (tokens > 0).then_some(tokens),
        model: ("fixed".into(), "llmsweep/fixed".into()),
        record_requests: false,
        ..Default::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let server = TestServer::start(behaviour, port)
            .await
            .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
        eprintln!(
            "fixed_server listening on {} (ttft {ttft_ms} ms, itl {itl_ms} ms, {tokens} tokens)",
            server.base_url()
        );
        tokio::time::sleep(Duration::from_secs(max_secs)).await;
        Ok(())
    })
}
