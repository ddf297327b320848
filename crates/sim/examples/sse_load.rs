//! A small, fast SSE load generator for benchmarking `llmsweep sim` itself (bench/sim/).
//!
//! ```text
//! cargo run --release -p llmsweep-sim --example sse_load -- \
//!     --addr 127.0.0.1:8000 --concurrency 1000 --requests 3000 --max-tokens 200
//! ```
//!
//! Each of `--concurrency` workers sends streaming completions (`ignore_eos`,
//! `Connection: close`) one after another until `--requests` have been sent, counting SSE
//! events as bytes arrive. At the end it reads the server's `/metrics` for the emission lag
//! histogram. Prints one JSON object.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Opts {
    addr: String,
    concurrency: usize,
    requests: usize,
    max_tokens: u32,
    prompt: String,
}

fn parse_opts() -> Result<Opts, String> {
    let mut o = Opts {
        addr: "127.0.0.1:8000".into(),
        concurrency: 100,
        requests: 1000,
        max_tokens: 100,
        prompt: "Tell me about the sea".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let num = |v: &str| v.parse::<usize>().map_err(|e| format!("{flag} {v}: {e}"));
        match flag.as_str() {
            "--addr" => o.addr = value,
            "--concurrency" => o.concurrency = num(&value)?,
            "--requests" => o.requests = num(&value)?,
            "--max-tokens" => o.max_tokens = num(&value)? as u32,
            "--prompt" => o.prompt = value,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(o)
}

#[derive(Default)]
struct Totals {
    sent: AtomicUsize,
    ok: AtomicUsize,
    failed: AtomicUsize,
    events: AtomicU64,
    open: AtomicUsize,
    peak_open: AtomicUsize,
}

/// Count `data: ` occurrences in `buf`, using `carry` for a match split across reads.
fn count_events(carry: &mut Vec<u8>, buf: &[u8]) -> u64 {
    const NEEDLE: &[u8] = b"data: ";
    carry.extend_from_slice(buf);
    let n = carry.windows(NEEDLE.len()).filter(|w| *w == NEEDLE).count() as u64;
    let keep = carry.len().saturating_sub(NEEDLE.len() - 1);
    carry.drain(..keep);
    n
}

async fn one_request(o: &Opts, body: &str, t: &Totals) -> Result<Duration, String> {
    let start = Instant::now();
    let mut s = TcpStream::connect(&o.addr)
        .await
        .map_err(|e| e.to_string())?;
    let _ = s.set_nodelay(true);
    let req = format!(
        "POST /v1/completions HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        o.addr,
        body.len()
    );
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut carry = Vec::with_capacity(64 * 1024);
    let mut events = 0u64;
    let mut ttft = None;
    let mut tail = Vec::new();
    loop {
        let n = s.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        let new = count_events(&mut carry, &buf[..n]);
        if new > 0 && ttft.is_none() {
            ttft = Some(start.elapsed());
            let open = t.open.fetch_add(1, Ordering::Relaxed) + 1;
            t.peak_open.fetch_max(open, Ordering::Relaxed);
        }
        events += new;
        tail.extend_from_slice(&buf[..n]);
        let len = tail.len();
        tail.drain(..len.saturating_sub(32));
    }
    if ttft.is_some() {
        t.open.fetch_sub(1, Ordering::Relaxed);
    }
    t.events.fetch_add(events, Ordering::Relaxed);
    let text = String::from_utf8_lossy(&tail);
    if !text.contains("[DONE]") {
        return Err(format!("stream ended without [DONE]: {text:?}"));
    }
    ttft.ok_or_else(|| "no event".into())
}

async fn scrape_lag(addr: &str) -> Option<serde_json::Value> {
    let mut s = TcpStream::connect(addr).await.ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.ok()?;
    let text = String::from_utf8_lossy(&raw);
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("llmsweep_sim:emit_lag_seconds_bucket{le=\"") else {
            continue;
        };
        let le = rest.split('"').next()?;
        let count: f64 = line.rsplit(' ').next()?.parse().ok()?;
        let bound = if le == "+Inf" {
            f64::INFINITY
        } else {
            le.parse().ok()?
        };
        buckets.push((bound, count));
    }
    let total = buckets.last()?.1;
    // Linear interpolation inside the bucket, as Prometheus' histogram_quantile does.
    let quantile = |q: f64| {
        let target = q * total;
        let mut prev = (0.0, 0.0);
        for &(bound, count) in &buckets {
            if count >= target {
                if bound.is_infinite() {
                    return prev.0;
                }
                let span = count - prev.1;
                let frac = if span > 0.0 {
                    (target - prev.1) / span
                } else {
                    1.0
                };
                return prev.0 + (bound - prev.0) * frac;
            }
            prev = (bound, count);
        }
        prev.0
    };
    Some(serde_json::json!({
        "emissions": total,
        "p50_ms": quantile(0.5) * 1e3,
        "p90_ms": quantile(0.9) * 1e3,
        "p99_ms": quantile(0.99) * 1e3,
    }))
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn main() -> std::process::ExitCode {
    let o = match parse_opts() {
        Ok(o) => Arc::new(o),
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let report = runtime.block_on(async move {
        let body = serde_json::json!({
            "prompt": o.prompt, "max_tokens": o.max_tokens, "ignore_eos": true, "stream": true,
        })
        .to_string();
        let totals = Arc::new(Totals::default());
        let ttfts = Arc::new(std::sync::Mutex::new(Vec::new()));
        let start = Instant::now();
        let mut workers = Vec::new();
        for _ in 0..o.concurrency {
            let (o, body, t, ttfts) = (o.clone(), body.clone(), totals.clone(), ttfts.clone());
            workers.push(tokio::spawn(async move {
                while t.sent.fetch_add(1, Ordering::Relaxed) < o.requests {
                    match one_request(&o, &body, &t).await {
                        Ok(ttft) => {
                            t.ok.fetch_add(1, Ordering::Relaxed);
                            ttfts.lock().unwrap().push(ttft.as_secs_f64() * 1e3);
                        }
                        Err(e) => {
                            if t.failed.fetch_add(1, Ordering::Relaxed) < 3 {
                                eprintln!("request failed: {e}");
                            }
                        }
                    }
                }
            }));
        }
        for w in workers {
            let _ = w.await;
        }
        let secs = start.elapsed().as_secs_f64();
        let ok = totals.ok.load(Ordering::Relaxed);
        let events = totals.events.load(Ordering::Relaxed);
        let tokens = ok as f64 * f64::from(o.max_tokens);
        let mut ttft = ttfts.lock().unwrap().clone();
        ttft.sort_by(f64::total_cmp);
        serde_json::json!({
            "concurrency": o.concurrency,
            "max_tokens": o.max_tokens,
            "completed": ok,
            "failed": totals.failed.load(Ordering::Relaxed),
            "duration_s": secs,
            "peak_open_streams": totals.peak_open.load(Ordering::Relaxed),
            "streamed_tokens_per_s": tokens / secs,
            "sse_events_per_s": events as f64 / secs,
            "ttft_p50_ms": percentile(&ttft, 0.5),
            "ttft_p99_ms": percentile(&ttft, 0.99),
            "server_emit_lag": scrape_lag(&o.addr).await,
        })
    });
    println!("{report}");
    std::process::ExitCode::SUCCESS
}
