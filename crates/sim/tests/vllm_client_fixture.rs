//! The saved `vllm bench serve` run against `llmsweep sim` (bench/sim/vllm_client_proof.sh)
//! must keep agreeing with the model: if the model changes, this fixture says by how much.

use llmsweep_sim::config::{SimOptions, resolve};
use llmsweep_sim::virtual_run::{Arrivals, RequestRecord, RunOptions, WorkItem, run};
use serde_json::Value;

#[test]
fn vllm_bench_serve_result_matches_the_model() {
    let text = include_str!("fixtures/vllm_bench_serve_random_128in_64out_c4.json");
    let measured: Value = serde_json::from_str(text).unwrap();
    assert_eq!(measured["failed"], 0);
    assert_eq!(measured["completed"], 32);
    let num = measured["completed"].as_f64().unwrap();
    let prompt = (measured["total_input_tokens"].as_f64().unwrap() / num).round() as u32;
    let output = (measured["total_output_tokens"].as_f64().unwrap() / num) as u32;
    assert_eq!(output, 64);

    let config = resolve(&SimOptions::default()).unwrap();
    let items: Vec<WorkItem> = (0..32)
        .map(|i| WorkItem::random(i, prompt, output))
        .collect();
    let arrivals = Arrivals::ClosedLoop {
        concurrency: 4,
        stagger_ns: 500_000,
        think_ns: 1_000_000,
    };
    let report = run(&config, &items, &arrivals, &RunOptions::default());
    let tpot = report.mean_over(0, u64::MAX, RequestRecord::tpot_s) * 1e3;
    let ttft = report.mean_over(0, u64::MAX, RequestRecord::ttft_s) * 1e3;

    let mean_tpot = measured["mean_tpot_ms"].as_f64().unwrap();
    assert!(
        (mean_tpot / tpot - 1.0).abs() < 0.03,
        "TPOT {mean_tpot} vs model {tpot}"
    );
    // TTFT as the client sees it adds the Python client's own overhead and depends on
    // where in a step each request lands; it must stay within a few ms above the model.
    let mean_ttft = measured["mean_ttft_ms"].as_f64().unwrap();
    assert!(
        mean_ttft > ttft && mean_ttft < ttft + 10.0,
        "TTFT {mean_ttft} vs model {ttft}"
    );
}
