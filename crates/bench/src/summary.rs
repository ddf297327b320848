//! The console summary printed at the end of a run, laid out like vLLM's (labels padded to
//! 40 columns), plus llmsweep's schedule-based latency and client-health lines.

use std::fmt::Write;

use serde_json::{Map, Value};

/// Render the summary from the result object (so the screen and the file always agree).
pub fn render(result: &Map<String, Value>, percentile_words: &[String]) -> String {
    let mut s = String::new();
    let get = |k: &str| result.get(k);
    let num = |k: &str| get(k).and_then(Value::as_f64).unwrap_or(0.0);
    let line = |s: &mut String, label: &str, value: String| {
        let _ = writeln!(s, "{label:<40} {value:<10}");
    };
    let _ = writeln!(s, "{:=^50}", " Serving Benchmark Result ");
    // (label, key, decimals): a key whose value is not a number (a null concurrency or goodput,
    // the "inf" rate) is left out, as vLLM leaves those lines out.
    let rows: [(&str, &str, usize); 13] = [
        ("Successful requests:", "completed", 0),
        ("Failed requests:", "failed", 0),
        ("Maximum request concurrency:", "max_concurrency", 0),
        ("Request rate configured (RPS):", "request_rate", 2),
        ("Benchmark duration (s):", "duration", 2),
        ("Total input tokens:", "total_input_tokens", 0),
        ("Total generated tokens:", "total_output_tokens", 0),
        ("Request throughput (req/s):", "request_throughput", 2),
        ("Request goodput (req/s):", "request_goodput", 2),
        ("Output token throughput (tok/s):", "output_throughput", 2),
        (
            "Peak output token throughput (tok/s):",
            "max_output_tokens_per_s",
            2,
        ),
        ("Peak concurrent requests:", "max_concurrent_requests", 2),
        (
            "Total token throughput (tok/s):",
            "total_token_throughput",
            2,
        ),
    ];
    for (label, key, decimals) in rows {
        if let Some(value) = get(key).and_then(Value::as_f64) {
            line(&mut s, label, format!("{value:.decimals$}"));
        }
    }
    let blocks = [
        ("ttft", "TTFT", "Time to First Token"),
        ("tpot", "TPOT", "Time per Output Token (excl. 1st token)"),
        ("itl", "ITL", "Inter-token Latency"),
        ("e2el", "E2EL", "End-to-end Latency"),
        (
            "client_queue_time",
            "Client Queue Time",
            "Client-side Queueing",
        ),
        (
            "e2el_including_client_queue",
            "E2EL incl. Client Queue",
            "Queue-inclusive End-to-end Latency",
        ),
        (
            "ttft_from_schedule",
            "TTFT from schedule",
            "From Intended Send Time (llmsweep)",
        ),
        (
            "e2el_from_schedule",
            "E2EL from schedule",
            "From Intended Send Time (llmsweep)",
        ),
    ];
    let mut last_header = "";
    for (key, name, header) in blocks {
        if !result.contains_key(&format!("mean_{key}_ms")) {
            continue;
        }
        if header != last_header {
            let _ = writeln!(s, "{:-^50}", header);
            last_header = header;
        }
        line(
            &mut s,
            &format!("Mean {name} (ms):"),
            format!("{:.2}", num(&format!("mean_{key}_ms"))),
        );
        line(
            &mut s,
            &format!("Median {name} (ms):"),
            format!("{:.2}", num(&format!("median_{key}_ms"))),
        );
        for p in percentile_words {
            line(
                &mut s,
                &format!("P{p} {name} (ms):"),
                format!("{:.2}", num(&format!("p{p}_{key}_ms"))),
            );
        }
    }
    if let Some(rate) = get("spec_decode_acceptance_rate").and_then(Value::as_f64) {
        let _ = writeln!(s, "{:-^50}", "Speculative Decoding");
        line(&mut s, "Acceptance rate (%):", format!("{rate:.2}"));
        line(
            &mut s,
            "Acceptance length:",
            format!("{:.2}", num("spec_decode_acceptance_length")),
        );
        line(
            &mut s,
            "Drafts:",
            format!("{}", num("spec_decode_num_drafts") as i64),
        );
        line(
            &mut s,
            "Draft tokens:",
            format!("{}", num("spec_decode_draft_tokens") as i64),
        );
        line(
            &mut s,
            "Accepted tokens:",
            format!("{}", num("spec_decode_accepted_tokens") as i64),
        );
        let per_pos = get("spec_decode_per_position_acceptance_rates").and_then(Value::as_array);
        if let Some(rates) = per_pos.filter(|r| !r.is_empty()) {
            let _ = writeln!(s, "Per-position acceptance (%):");
            for (i, r) in rates.iter().enumerate() {
                line(
                    &mut s,
                    &format!("  Position {i}:"),
                    format!("{:.2}", r.as_f64().unwrap_or(0.0) * 100.0),
                );
            }
        }
    }
    let _ = writeln!(s, "{:-^50}", "Client Health (llmsweep)");
    line(
        &mut s,
        "Send lag mean / p99 / max (ms):",
        format!(
            "{:.2} / {:.2} / {:.2}",
            num("mean_send_lag_ms"),
            num("p99_send_lag_ms"),
            num("max_send_lag_ms")
        ),
    );
    line(
        &mut s,
        "Dispatch lag p99 / max (ms):",
        format!(
            "{:.2} / {:.2}",
            num("p99_dispatch_lag_ms"),
            num("max_dispatch_lag_ms")
        ),
    );
    line(
        &mut s,
        "Timer wake-up lag p99 / max (ms):",
        format!(
            "{:.2} / {:.2}",
            num("p99_wakeup_lag_ms"),
            num("max_wakeup_lag_ms")
        ),
    );
    line(
        &mut s,
        "Client bound:",
        format!(
            "{}",
            get("client_bound")
                .and_then(Value::as_bool)
                .unwrap_or(false)
        ),
    );
    let _ = writeln!(s, "{}", "=".repeat(50));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_vllm_layout() {
        let result: Map<String, Value> = serde_json::from_value(json!({
            "completed": 16, "failed": 0, "max_concurrency": 4, "request_rate": "inf", "duration": 1.849,
            "total_input_tokens": 1320, "total_output_tokens": 512, "request_throughput": 8.65, "request_goodput": null,
            "output_throughput": 276.86, "max_output_tokens_per_s": 266.0, "max_concurrent_requests": 12,
            "total_token_throughput": 990.64, "mean_ttft_ms": 80.2, "median_ttft_ms": 75.4, "p99_ttft_ms": 113.66,
            "client_bound": false
        }))
        .unwrap();
        let text = render(&result, &["99".to_string()]);
        assert!(
            text.starts_with("============ Serving Benchmark Result ============\n"),
            "{text}"
        );
        assert!(text.contains("Successful requests:                     16        \n"));
        assert!(text.contains(&format!(
            "{:<40} 4         \n",
            "Maximum request concurrency:"
        )));
        assert!(
            !text.contains("Request rate configured"),
            "an infinite rate is not printed"
        );
        assert!(!text.contains("goodput"));
        assert!(text.contains("---------------Time to First Token----------------\n"));
        assert!(text.contains(&format!("{:<40} 113.66    \n", "P99 TTFT (ms):")));
        assert!(!text.contains("TPOT"));
        assert!(text.ends_with(&format!("{}\n", "=".repeat(50))));
    }
}
