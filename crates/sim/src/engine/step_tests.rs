//! Unit tests of the step scheduler ([`super::step`]): budget, `max_num_seqs`, chunked
//! prefill, preemption, prefix hits, admission lag, abort.

use crate::engine::step::{SchedulerConfig, StepEngine, StepEngineConfig};
use crate::engine::{Emission, FinishReason, NewRequest, StepRecord, prompt_blocks};
use crate::metrics::Metrics;
use crate::profile::{H100, H100_EFFICIENCY, by_name};
use crate::step_time::{Parallelism, StepCoefficients};
use crate::text::OutputIds;
use crate::tokenizer::SimTokenizer;

fn engine(tweak: impl FnOnce(&mut SchedulerConfig)) -> StepEngine {
    let arch = by_name("llama-3-8b-h100").unwrap().arch;
    let mut scheduler = SchedulerConfig {
        max_num_seqs: 8,
        max_num_batched_tokens: 100,
        max_model_len: 1000,
        block_size: 16,
        num_blocks: 1000,
        long_prefill_token_threshold: 0,
        enable_prefix_caching: true,
        admission_lag_steps: 0,
    };
    tweak(&mut scheduler);
    let mut e = StepEngine::new(
        StepEngineConfig {
            scheduler,
            coefficients: StepCoefficients::new(
                &arch,
                &H100,
                &H100_EFFICIENCY,
                Parallelism { tp: 1, pp: 1 },
                false,
                arch.kv_bytes_per_token(),
            ),
            ingress_base_ns: 0,
            ingress_per_token_ns: 0.0,
            emit_delay_ns: 0,
            jitter_sigma: 0.0,
            jitter_seed: 0,
            output_ids: OutputIds::new(&SimTokenizer::new(arch.vocab)),
        },
        0,
    );
    e.record_steps();
    e
}

fn request(id: u64, arrival_ns: u64, prompt: &[u32], output_len: u32) -> NewRequest {
    let (block_hashes, prompt_tail) = prompt_blocks(prompt, 16);
    NewRequest {
        id,
        arrival_ns,
        prompt_len: prompt.len() as u32,
        block_hashes,
        prompt_tail,
        text_key: id,
        output_len,
        finish: FinishReason::Length,
    }
}

fn tokens(seed: u32, n: u32) -> Vec<u32> {
    (0..n).map(|i| seed * 100_000 + i).collect()
}

/// Run until idle; returns every emission.
fn drain(e: &mut StepEngine, m: &mut Metrics) -> Vec<Emission> {
    let mut out = Vec::new();
    while let Some(t) = e.next_event_ns() {
        e.advance_to(t, &mut out, m);
    }
    out
}

fn steps(e: &StepEngine) -> Vec<StepRecord> {
    e.step_log().to_vec()
}

#[test]
fn budget_chunks_prefills_and_first_token_waits_for_the_whole_prompt() {
    let mut e = engine(|_| {});
    let mut m = Metrics::new();
    for id in 0..3 {
        e.submit(request(id, 0, &tokens(id as u32, 64), 2));
    }
    let out = drain(&mut e, &mut m);
    let log = steps(&e);
    // Step 1: 64 + 36 (chunk) = the 100-token budget; request 2 waits for room.
    assert_eq!((log[0].tokens, log[0].seqs), (100, 2));
    // Step 2: request 0 decodes (1), request 1 finishes its prompt (28), request 2 takes 64.
    assert_eq!((log[1].tokens, log[1].seqs, log[1].decodes), (93, 3, 1));
    let first = |id| out.iter().find(|x| x.id == id).unwrap().time_ns;
    assert_eq!(first(0), log[0].end_ns);
    assert_eq!(
        first(1),
        log[1].end_ns,
        "no token before the prompt is complete"
    );
    assert_eq!(out.len(), 6);
    assert_eq!(m.generation_tokens, 6);
}

#[test]
fn max_num_seqs_and_threshold_cap_a_step() {
    let mut e = engine(|s| {
        s.max_num_seqs = 2;
        s.max_num_batched_tokens = 1000;
        s.long_prefill_token_threshold = 40;
    });
    let mut m = Metrics::new();
    for id in 0..3 {
        e.submit(request(id, 0, &tokens(id as u32, 64), 3));
    }
    drain(&mut e, &mut m);
    let log = steps(&e);
    assert!(log.iter().all(|s| s.running <= 2));
    assert_eq!((log[0].tokens, log[0].seqs), (80, 2), "two chunks of 40");
}

#[test]
fn running_out_of_blocks_preempts_the_last_request_by_recompute() {
    // 8 blocks of 16 = 128 tokens: two 60-token prompts fit, their growth does not.
    let mut e = engine(|s| {
        s.num_blocks = 8;
        s.max_num_batched_tokens = 200;
        s.max_model_len = 128;
        s.enable_prefix_caching = false;
    });
    let mut m = Metrics::new();
    e.submit(request(0, 0, &tokens(0, 60), 60));
    e.submit(request(1, 0, &tokens(1, 60), 60));
    let out = drain(&mut e, &mut m);
    assert!(m.preemptions > 0);
    let log = steps(&e);
    let first_preemption = log.iter().position(|s| s.preempted).unwrap();
    assert_eq!(
        log[first_preemption].seqs, 1,
        "the victim was dropped from the step"
    );
    // Both finish with every token, none twice.
    for id in 0..2 {
        let counts: Vec<u32> = out
            .iter()
            .filter(|x| x.id == id)
            .map(|x| x.generated)
            .collect();
        assert_eq!(counts, (1..=60).collect::<Vec<_>>());
    }
    // Recompute shows as a long prefill after the preemption.
    assert!(log[first_preemption + 1..].iter().any(|s| s.tokens > 60));
}

#[test]
fn prefix_hits_are_whole_blocks_and_leave_one_token_to_compute() {
    let mut e = engine(|_| {});
    let mut m = Metrics::new();
    let prompt = tokens(7, 32);
    e.submit(request(0, 0, &prompt, 1));
    drain(&mut e, &mut m);
    e.submit(request(1, 10_000_000_000, &prompt, 1));
    let out = drain(&mut e, &mut m);
    // Two full blocks cached, but at least one token must be computed: hit = 16.
    assert_eq!(out[0].cached_tokens, 16);
    assert_eq!((m.prefix_queries, m.prefix_hits), (64, 16));
    assert_eq!(steps(&e).last().unwrap().tokens, 16);
    // Reset: nothing hits any more. A running request makes it refuse, as vLLM's.
    e.submit(request(3, 15_000_000_000, &tokens(9, 40), 50));
    let mut out = Vec::new();
    e.advance_to(15_000_000_000 + 1, &mut out, &mut m);
    while !e.reset_prefix_cache() {
        let next = e.next_event_ns().expect("the running request ends");
        e.advance_to(next, &mut out, &mut m);
    }
    assert!(out.iter().any(|o| o.id == 3 && o.finish.is_some()));
    e.submit(request(2, 20_000_000_000, &prompt, 1));
    assert_eq!(drain(&mut e, &mut m)[0].cached_tokens, 0);
}

#[test]
fn a_busy_engine_admits_newcomers_one_step_late() {
    let run = |lag: u32| {
        let mut e = engine(|s| s.admission_lag_steps = lag);
        let mut m = Metrics::new();
        let mut out = Vec::new();
        e.submit(request(0, 0, &tokens(0, 10), 50));
        e.advance_to(1, &mut out, &mut m); // step 1 is running
        e.submit(request(1, 1, &tokens(1, 10), 1));
        out.extend(drain(&mut e, &mut m));
        steps(&e).iter().position(|s| s.seqs == 2).unwrap()
    };
    assert_eq!(run(0), 1, "without lag: the step after the arrival");
    assert_eq!(run(1), 2, "with lag: one step later");
}

#[test]
fn abort_frees_the_request_and_its_blocks() {
    let mut e = engine(|_| {});
    let mut m = Metrics::new();
    let mut out = Vec::new();
    e.submit(request(0, 0, &tokens(0, 64), 500));
    e.submit(request(1, 0, &tokens(1, 64), 5));
    e.advance_to(50_000_000, &mut out, &mut m);
    assert!(e.gauges().kv_usage > 0.0);
    assert!(e.abort(0, &mut m));
    assert!(!e.abort(0, &mut m), "already gone");
    let rest = drain(&mut e, &mut m);
    assert!(rest.iter().all(|x| x.id == 1));
    assert_eq!(e.gauges().running + e.gauges().waiting, 0);
    assert_eq!(e.gauges().kv_usage, 0.0);
    assert_eq!(m.finished, [1, 0, 1]);
}
