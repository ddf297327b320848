//! Human axis titles with units for vLLM's result keys: `p99_e2el_ms` reads
//! "P99 E2E latency (ms)", `request_throughput` "Request throughput (req/s)". Unknown keys
//! keep their name, with a unit when their suffix gives one (`_ms`, `_s`).

/// The axis title for a variable.
pub fn axis_title(var: &str) -> String {
    if let Some(t) = known(var) {
        return t.to_string();
    }
    if let Some(t) = latency_stat(var) {
        return t;
    }
    if let Some(t) = startup_time(var) {
        return t;
    }
    if var.ends_with("_ms") {
        return format!("{var} (ms)");
    }
    if var.ends_with("_s") || var.ends_with("_seconds") {
        return format!("{var} (s)");
    }
    var.to_string()
}

/// The unit alone (`ms`, `req/s`, `tok/s`, …) when known.
pub fn unit(var: &str) -> Option<String> {
    let title = axis_title(var);
    let open = title.rfind(" (")?;
    title.strip_suffix(')').map(|t| t[open + 2..].to_string())
}

fn known(var: &str) -> Option<&'static str> {
    Some(match var {
        "request_throughput" => "Request throughput (req/s)",
        "request_goodput" => "Request goodput (req/s)",
        "output_throughput" => "Output throughput (tok/s)",
        "total_token_throughput" => "Total token throughput (tok/s)",
        "max_output_tokens_per_s" => "Peak output throughput (tok/s)",
        "request_rate" => "Request rate (req/s)",
        "max_concurrency" => "Max concurrency (requests)",
        "max_concurrent_requests" => "Peak concurrent requests",
        "max_num_seqs" => "max_num_seqs (sequences)",
        "max_num_batched_tokens" => "max_num_batched_tokens (tokens)",
        "num_prompts" => "Prompts",
        "completed" => "Completed requests",
        "failed" => "Failed requests",
        "duration" => "Duration (s)",
        "total_input_tokens" => "Input tokens",
        "total_output_tokens" => "Output tokens",
        "random_input_len" => "Input length (tokens)",
        "random_output_len" => "Output length (tokens)",
        "tokens_per_user" => "Output throughput per user (tok/s/user)",
        "tokens_per_gpu" => "Output throughput per GPU (tok/s/GPU)",
        "spec_decode_acceptance_rate" => "Spec decode acceptance rate (%)",
        _ => return None,
    })
}

/// `mean_ttft_ms`, `p99_e2el_ms`, `p99.9_itl_ms`, …
fn latency_stat(var: &str) -> Option<String> {
    let body = var.strip_suffix("_ms")?;
    let (stat, metric) = body.split_once('_')?;
    let stat = match stat {
        "mean" => "Mean".to_string(),
        "median" => "Median".to_string(),
        "std" => "Std. dev.".to_string(),
        p if p.starts_with('p') && p[1..].parse::<f64>().is_ok() => format!("P{}", &p[1..]),
        _ => return None,
    };
    let metric = match metric {
        "ttft" => "TTFT",
        "tpot" => "TPOT",
        "itl" => "ITL",
        "e2el" => "E2E latency",
        "client_queue_time" => "client queue time",
        "e2el_including_client_queue" => "E2E latency incl. client queue",
        _ => return None,
    };
    Some(format!("{stat} {metric} (ms)"))
}

/// `avg_cold_startup_time`, `avg_warm_compilation_time`, …
fn startup_time(var: &str) -> Option<String> {
    let body = var.strip_prefix("avg_")?.strip_suffix("_time")?;
    let (phase, metric) = body.split_once('_')?;
    if !matches!(phase, "cold" | "warm") {
        return None;
    }
    Some(format!(
        "Mean {phase} {} time (s)",
        metric.replace('_', " ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_carry_units() {
        for (var, want) in [
            ("request_throughput", "Request throughput (req/s)"),
            ("output_throughput", "Output throughput (tok/s)"),
            ("p99_e2el_ms", "P99 E2E latency (ms)"),
            ("p99.9_ttft_ms", "P99.9 TTFT (ms)"),
            ("median_tpot_ms", "Median TPOT (ms)"),
            ("std_itl_ms", "Std. dev. ITL (ms)"),
            ("avg_cold_startup_time", "Mean cold startup time (s)"),
            (
                "avg_warm_encoder_compilation_time",
                "Mean warm encoder compilation time (s)",
            ),
            ("my_latency_ms", "my_latency_ms (ms)"),
            ("ready_s", "ready_s (s)"),
            ("max_num_seqs", "max_num_seqs (sequences)"),
            ("something", "something"),
        ] {
            assert_eq!(axis_title(var), want, "{var}");
        }
    }

    #[test]
    fn units_alone() {
        assert_eq!(unit("p99_ttft_ms").as_deref(), Some("ms"));
        assert_eq!(unit("request_rate").as_deref(), Some("req/s"));
        assert_eq!(unit("something"), None);
    }
}
