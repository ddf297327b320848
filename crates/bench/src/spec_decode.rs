//! Speculative-decoding statistics from the server's Prometheus `/metrics`, taken just before
//! and just after the timed run, as `vllm bench serve` does: the `vllm:spec_decode*_total`
//! counters are summed over their labels, and the result gets the `spec_decode_*` keys only
//! when the server has them and drafted tokens during the run.

use std::collections::BTreeMap;

/// The counters at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SpecDecodeCounters {
    /// `…num_drafts…_total`.
    pub num_drafts: i64,
    /// `…num_draft_tokens…_total`.
    pub num_draft_tokens: i64,
    /// `…num_accepted_tokens…_total` (not per position).
    pub num_accepted_tokens: i64,
    /// `…num_accepted_tokens_per_pos…_total{position="k"}`.
    pub accepted_per_pos: BTreeMap<i64, i64>,
}

/// vLLM's parser: `None` when no `vllm:spec_decode…_total` sample is present.
pub fn parse(text: &str) -> Option<SpecDecodeCounters> {
    let mut c = SpecDecodeCounters::default();
    let mut found = false;
    for line in text.split('\n').map(str::trim) {
        if line.is_empty() || line.starts_with('#') || !line.starts_with("vllm:spec_decode") {
            continue;
        }
        let first = line.split_whitespace().next().unwrap_or("");
        let name = first.split('{').next().unwrap_or("");
        if !name.ends_with("_total") {
            continue;
        }
        found = true;
        let Some(value) = line
            .split_whitespace()
            .last()
            .and_then(|v| v.parse::<f64>().ok())
            .map(|v| v as i64)
        else {
            continue;
        };
        if name.contains("num_drafts") {
            c.num_drafts += value;
        } else if name.contains("num_draft_tokens") {
            c.num_draft_tokens += value;
        } else if name.contains("num_accepted_tokens_per_pos") {
            let label = "position=\"";
            if let Some(start) = line.find(label).map(|i| i + label.len())
                && let Some(len) = line[start..].find('"')
                && let Ok(pos) = line[start..start + len].parse::<i64>()
            {
                *c.accepted_per_pos.entry(pos).or_insert(0) += value;
            }
        } else if name.contains("num_accepted_tokens") {
            c.num_accepted_tokens += value;
        }
    }
    found.then_some(c)
}

/// What happened between two snapshots.
#[derive(Debug, Clone, PartialEq)]
pub struct SpecDecodeStats {
    /// Drafts proposed.
    pub num_drafts: i64,
    /// Draft tokens proposed.
    pub draft_tokens: i64,
    /// Draft tokens accepted.
    pub accepted_tokens: i64,
    /// accepted / draft tokens, in percent.
    pub acceptance_rate: f64,
    /// 1 + accepted / drafts.
    pub acceptance_length: f64,
    /// Accepted per position / drafts.
    pub per_position_acceptance_rates: Vec<f64>,
}

/// The run's statistics; `None` unless draft tokens were proposed during it.
pub fn delta(before: &SpecDecodeCounters, after: &SpecDecodeCounters) -> Option<SpecDecodeStats> {
    let drafts = after.num_drafts - before.num_drafts;
    let draft_tokens = after.num_draft_tokens - before.num_draft_tokens;
    let accepted = after.num_accepted_tokens - before.num_accepted_tokens;
    if draft_tokens <= 0 {
        return None;
    }
    let mut per_pos = Vec::new();
    if drafts > 0 {
        let positions: std::collections::BTreeSet<i64> = before
            .accepted_per_pos
            .keys()
            .chain(after.accepted_per_pos.keys())
            .copied()
            .collect();
        for pos in positions {
            let b = before.accepted_per_pos.get(&pos).copied().unwrap_or(0);
            let a = after.accepted_per_pos.get(&pos).copied().unwrap_or(b);
            per_pos.push((a - b) as f64 / drafts as f64);
        }
    }
    Some(SpecDecodeStats {
        num_drafts: drafts,
        draft_tokens,
        accepted_tokens: accepted,
        acceptance_rate: accepted as f64 / draft_tokens as f64 * 100.0,
        acceptance_length: if drafts > 0 {
            1.0 + accepted as f64 / drafts as f64
        } else {
            0.0
        },
        per_position_acceptance_rates: per_pos,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = "# HELP vllm:spec_decode_num_drafts Number of drafts\n\
        vllm:spec_decode_num_drafts_total{model_name=\"m\"} 10.0\n\
        vllm:spec_decode_num_draft_tokens_total{model_name=\"m\"} 30.0\n\
        vllm:spec_decode_num_accepted_tokens_total{model_name=\"m\"} 15.0\n\
        vllm:spec_decode_num_accepted_tokens_per_pos_total{model_name=\"m\",position=\"0\"} 8.0\n\
        vllm:spec_decode_num_accepted_tokens_per_pos_total{model_name=\"m\",position=\"1\"} 7.0\n\
        vllm:spec_decode_num_drafts_created 1.7e9\n\
        vllm:num_requests_running{model_name=\"m\"} 0.0\n";

    #[test]
    fn parses_and_sums_counters() {
        let c = parse(BEFORE).unwrap();
        assert_eq!(
            (c.num_drafts, c.num_draft_tokens, c.num_accepted_tokens),
            (10, 30, 15)
        );
        assert_eq!(c.accepted_per_pos, BTreeMap::from([(0, 8), (1, 7)]));
        assert_eq!(parse("vllm:num_requests_running 1\n"), None);
    }

    #[test]
    fn delta_over_the_run() {
        let before = parse(BEFORE).unwrap();
        let mut after = before.clone();
        after.num_drafts += 20;
        after.num_draft_tokens += 60;
        after.num_accepted_tokens += 30;
        *after.accepted_per_pos.get_mut(&0).unwrap() += 20;
        *after.accepted_per_pos.get_mut(&1).unwrap() += 10;
        let s = delta(&before, &after).unwrap();
        assert_eq!(
            (s.num_drafts, s.draft_tokens, s.accepted_tokens),
            (20, 60, 30)
        );
        assert_eq!(s.acceptance_rate, 50.0);
        assert_eq!(s.acceptance_length, 2.5);
        assert_eq!(s.per_position_acceptance_rates, vec![1.0, 0.5]);
        assert_eq!(
            delta(&before, &before),
            None,
            "no drafts during the run: no keys"
        );
    }
}
