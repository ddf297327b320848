//! Predict what a closed-loop benchmark will measure against `llmsweep sim`, by running the
//! same workload in virtual time.
//!
//! ```text
//! cargo run --release -p llmsweep-sim --example predict -- \
//!     --profile tiny --input-len 256 --output-len 64 --concurrency 16 --num-prompts 200 \
//!     [--stagger-ms F] [--think-ms F] \
//!     [--max-num-seqs N] [--max-num-batched-tokens N] [--gpu-memory-utilization F] \
//!     [--tensor-parallel-size N] [--no-enable-prefix-caching]
//! ```
//!
//! `--stagger-ms` offsets the clients' first requests (a real client starts them one after
//! another, which breaks lock-step); `--think-ms` is the client's pause between a response's
//! end and its next request reaching the server. Prints one JSON object with the mean/median TTFT, TPOT and E2E in ms (the keys
//! `vllm bench serve` writes), output throughput, and the run's virtual duration.

use std::process::ExitCode;

use llmsweep_sim::config::{SimOptions, resolve};
use llmsweep_sim::virtual_run::{Arrivals, RunOptions, WorkItem, quantile, run};

fn main() -> ExitCode {
    match predict(std::env::args().skip(1).collect()) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn predict(args: Vec<String>) -> Result<String, String> {
    let mut opts = SimOptions::default();
    let (mut input, mut output, mut concurrency, mut num) = (1024u32, 128u32, 1usize, 100usize);
    let (mut stagger_ms, mut think_ms) = (0.0f64, 0.0f64);
    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        if flag == "--no-enable-prefix-caching" {
            opts.enable_prefix_caching = Some(false);
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--profile" => opts.profile = Some(value),
            "--model" => opts.model = Some(value),
            "--input-len" => input = value.parse().map_err(|e| bad(&e))?,
            "--output-len" => output = value.parse().map_err(|e| bad(&e))?,
            "--concurrency" => concurrency = value.parse().map_err(|e| bad(&e))?,
            "--num-prompts" => num = value.parse().map_err(|e| bad(&e))?,
            "--stagger-ms" => stagger_ms = value.parse().map_err(|e| bad(&e))?,
            "--think-ms" => think_ms = value.parse().map_err(|e| bad(&e))?,
            "--max-num-seqs" => opts.max_num_seqs = Some(value.parse().map_err(|e| bad(&e))?),
            "--max-num-batched-tokens" => {
                opts.max_num_batched_tokens = Some(value.parse().map_err(|e| bad(&e))?)
            }
            "--gpu-memory-utilization" => {
                opts.gpu_memory_utilization = Some(value.parse().map_err(|e| bad(&e))?)
            }
            "--tensor-parallel-size" => {
                opts.tensor_parallel_size = Some(value.parse().map_err(|e| bad(&e))?)
            }
            "--fixed-ttft-ms" => opts.fixed_ttft_ms = Some(value.parse().map_err(|e| bad(&e))?),
            "--fixed-itl-ms" => opts.fixed_itl_ms = Some(value.parse().map_err(|e| bad(&e))?),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    let config = resolve(&opts).map_err(|e| e.to_string())?;
    let items: Vec<WorkItem> = (0..num as u64)
        .map(|i| WorkItem::random(i, input, output))
        .collect();
    let report = run(
        &config,
        &items,
        &Arrivals::ClosedLoop {
            concurrency,
            stagger_ns: (stagger_ms * 1e6) as u64,
            think_ns: (think_ms * 1e6) as u64,
        },
        &RunOptions::default(),
    );
    let ms = |f: &dyn Fn(&llmsweep_sim::virtual_run::RequestRecord) -> Option<f64>| {
        let xs: Vec<f64> = report.finished().filter_map(f).map(|s| s * 1e3).collect();
        let mean = xs.iter().sum::<f64>() / xs.len().max(1) as f64;
        (mean, quantile(&xs, 0.5), quantile(&xs, 0.99))
    };
    let ttft = ms(&|r| r.ttft_s());
    let tpot = ms(&|r| r.tpot_s());
    let e2e = ms(&|r| r.e2e_s());
    let duration = report.end_ns as f64 / 1e9;
    let tokens: u64 = report
        .finished()
        .map(|r| u64::from(r.output_tokens()))
        .sum();
    Ok(serde_json::json!({
        "profile": config.profile.name,
        "input_len": input,
        "output_len": output,
        "max_concurrency": concurrency,
        "num_prompts": num,
        "duration": duration,
        "output_throughput": tokens as f64 / duration,
        "mean_ttft_ms": ttft.0, "median_ttft_ms": ttft.1, "p99_ttft_ms": ttft.2,
        "mean_tpot_ms": tpot.0, "median_tpot_ms": tpot.1, "p99_tpot_ms": tpot.2,
        "mean_e2el_ms": e2e.0, "median_e2el_ms": e2e.1, "p99_e2el_ms": e2e.2,
        "num_preemptions": report.sim.metrics().preemptions,
    })
    .to_string())
}
