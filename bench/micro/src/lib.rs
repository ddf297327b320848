//! Inputs and plain baselines for the criterion micro-benchmarks in `benches/`.
//!
//! Each benchmark group runs one of llmsweep's hot paths and a plain baseline that computes the
//! same answer, side by side in one run, so the result is a ratio, not an absolute timing. The
//! baselines live here (not in the bench files) so the tests below can check that they agree
//! with the hot path on the very inputs that are measured.

pub mod client {
    //! The client's per-chunk path: HTTP/1.1 chunked framing, SSE lines and the JSON chunk,
    //! read with `llmsweep_bench::chunk::classify` or with a `serde_json::Value` baseline.

    use llmsweep_bench::chunk::{ChunkApi, ChunkKind, classify};
    use llmsweep_bench::http1::{BodyDecoder, ResponseHead, parse_head};
    use llmsweep_bench::sse::{SseDecoder, SseEvent};
    use llmsweep_sim::api::render::{ChunkTemplate, DONE, Usage};
    use llmsweep_sim::api::request::Endpoint;
    use llmsweep_sim::engine::FinishReason;
    use serde_json::Value;

    /// The model name in every chunk (the simulator's default profile).
    pub const MODEL: &str = "meta-llama/Llama-3.1-8B-Instruct";

    /// What one chunk means for the timing, reduced to plain data so both readers can be
    /// compared: a token chunk with its text length, a usage report, or anything else.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Outcome {
        /// A token chunk; the length of its text in bytes.
        Token(usize),
        /// A usage report.
        Usage {
            /// `usage.completion_tokens`.
            completion_tokens: Option<u64>,
            /// `usage.prompt_tokens`.
            prompt_tokens: Option<u64>,
        },
        /// Ignored (chat's role chunk, a chunk with no choices and no usage).
        Other,
    }

    /// The hot path: the borrowing scanner `llmsweep_bench::chunk::classify`.
    pub fn scan(data: &[u8], api: ChunkApi) -> Result<Outcome, serde_json::Error> {
        Ok(match classify(data, api)? {
            ChunkKind::Token(text) => Outcome::Token(text.len()),
            ChunkKind::Usage {
                completion_tokens,
                prompt_tokens,
            } => Outcome::Usage {
                completion_tokens,
                prompt_tokens,
            },
            ChunkKind::Other => Outcome::Other,
        })
    }

    /// The baseline: parse the chunk into a `serde_json::Value` (the project's serde_json
    /// features, so an order-preserving map) and apply the same rules as `classify`.
    pub fn value(data: &[u8], api: ChunkApi) -> Result<Outcome, serde_json::Error> {
        let v: Value = serde_json::from_slice(data)?;
        let first = v
            .get("choices")
            .and_then(Value::as_array)
            .and_then(|c| c.first());
        if let Some(choice) = first {
            let text_len = |v: Option<&Value>| v.and_then(Value::as_str).map_or(0, str::len);
            match api {
                ChunkApi::Completions => return Ok(Outcome::Token(text_len(choice.get("text")))),
                ChunkApi::Chat => {
                    if let Some(delta) = choice.get("delta")
                        && streamed_output(delta)
                    {
                        return Ok(Outcome::Token(text_len(delta.get("content"))));
                    }
                }
            }
        }
        Ok(match v.get("usage").filter(|u| u.is_object()) {
            Some(u) => Outcome::Usage {
                completion_tokens: u.get("completion_tokens").and_then(Value::as_u64),
                prompt_tokens: u.get("prompt_tokens").and_then(Value::as_u64),
            },
            None => Outcome::Other,
        })
    }

    /// vLLM's `_choice_has_streamed_output` on a `delta` value.
    fn streamed_output(delta: &Value) -> bool {
        let non_empty = |k: &str| {
            delta
                .get(k)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty())
        };
        let truthy = |k: &str| match delta.get(k) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(Value::Number(n)) => n.as_f64() != Some(0.0),
            Some(Value::String(s)) => !s.is_empty(),
            Some(Value::Array(a)) => !a.is_empty(),
            Some(Value::Object(o)) => !o.is_empty(),
        };
        let role = delta.get("role").is_some_and(|r| !r.is_null());
        non_empty("content")
            || non_empty("reasoning")
            || non_empty("reasoning_content")
            || truthy("tool_calls")
            || truthy("function_call")
            || (delta.get("content").and_then(Value::as_str) == Some("") && !role)
    }

    /// The SSE events of one streamed response, byte for byte as `llmsweep sim` writes them
    /// (vLLM's shapes): chat's role chunk, one chunk per token, the usage chunk, `[DONE]`.
    pub fn sse_events(api: ChunkApi, tokens: u32) -> Vec<Vec<u8>> {
        let (endpoint, id) = match api {
            ChunkApi::Completions => (
                Endpoint::Completions,
                "cmpl-8f0c3a5e4b7d4a1f9e2c6b0d1a3f5e7c",
            ),
            ChunkApi::Chat => (Endpoint::Chat, "chatcmpl-8f0c3a5e4b7d4a1f9e2c6b0d1a3f5e7c"),
        };
        let template = ChunkTemplate::new(endpoint, id, 1_795_000_000, MODEL);
        let key = 0x5EED_u64;
        let mut events = Vec::new();
        let mut role = Vec::new();
        template.push_role(&mut role);
        if !role.is_empty() {
            events.push(role);
        }
        for i in 0..tokens {
            let mut e = Vec::new();
            let finish = (i + 1 == tokens).then_some(FinishReason::Length);
            template.push_tokens(&mut e, key, i, i + 1, finish);
            events.push(e);
        }
        let mut usage = Vec::new();
        template.push_usage(
            &mut usage,
            Usage {
                prompt_tokens: 1024,
                completion_tokens: tokens,
                cached_tokens: 0,
            },
        );
        events.push(usage);
        events.push(DONE.to_vec());
        events
    }

    /// The JSON payload of an event (`data: {json}\n\n` without the framing).
    pub fn payload(event: &[u8]) -> &[u8] {
        event
            .strip_prefix(b"data: ")
            .and_then(|e| e.strip_suffix(b"\n\n"))
            .unwrap_or(event)
    }

    /// The head of a streamed response (what uvicorn and the simulator send).
    pub fn stream_head() -> ResponseHead {
        parse_head(
            b"HTTP/1.1 200 OK\r\ndate: Sat, 28 Nov 2026 04:00:00 GMT\r\nserver: uvicorn\r\n\
              content-type: text/event-stream; charset=utf-8\r\ntransfer-encoding: chunked",
        )
        .expect("a valid head")
    }

    /// The socket reads of the response body: each event in its own HTTP/1.1 chunk and its
    /// own read (one token per engine step per stream), then the terminating chunk.
    pub fn chunked_reads(events: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let mut reads: Vec<Vec<u8>> = events
            .iter()
            .map(|e| {
                let mut r = format!("{:x}\r\n", e.len()).into_bytes();
                r.extend_from_slice(e);
                r.extend_from_slice(b"\r\n");
                r
            })
            .collect();
        reads.push(b"0\r\n\r\n".to_vec());
        reads
    }

    /// What the client keeps per request (its `StreamState`): first and last token time,
    /// inter-token gaps, usage, generated text length. Times are read indices here.
    #[derive(Debug, Clone, PartialEq, Default)]
    pub struct Tally {
        /// Arrival of the first token chunk.
        pub first_token: Option<u64>,
        /// Arrival of the latest token chunk.
        pub last_token: Option<u64>,
        /// Gaps between token chunks.
        pub itl: Vec<u64>,
        /// Bytes of generated text seen.
        pub text_bytes: usize,
        /// `usage.completion_tokens`.
        pub completion_tokens: Option<u64>,
        /// `usage.prompt_tokens`.
        pub prompt_tokens: Option<u64>,
        /// `[DONE]` was seen.
        pub done: bool,
    }

    impl Tally {
        fn on_outcome(&mut self, outcome: Outcome, at: u64) {
            match outcome {
                Outcome::Token(len) => {
                    match self.last_token {
                        None => self.first_token = Some(at),
                        Some(prev) => self.itl.push(at - prev),
                    }
                    self.last_token = Some(at);
                    self.text_bytes += len;
                }
                Outcome::Usage {
                    completion_tokens,
                    prompt_tokens,
                } => {
                    self.completion_tokens = completion_tokens;
                    self.prompt_tokens = prompt_tokens.or(self.prompt_tokens);
                }
                Outcome::Other => {}
            }
        }
    }

    /// One whole response through the client's path: `BodyDecoder` (chunked framing) →
    /// `SseDecoder` → `read_chunk` per event → the per-request tally, read by read.
    pub fn read_stream(
        head: &ResponseHead,
        reads: &[Vec<u8>],
        api: ChunkApi,
        read_chunk: fn(&[u8], ChunkApi) -> Result<Outcome, serde_json::Error>,
    ) -> Tally {
        let mut body = BodyDecoder::new(head);
        let mut sse: SseDecoder<u64> = SseDecoder::new();
        let mut tally = Tally {
            itl: Vec::with_capacity(reads.len()),
            ..Tally::default()
        };
        for (at, read) in reads.iter().enumerate() {
            let mut failed = None;
            body.decode(read, |data| {
                let fed = sse.feed(data, at as u64, |event, at| match event {
                    SseEvent::Done => {
                        tally.done = true;
                        false
                    }
                    SseEvent::Data(d) => match read_chunk(d, api) {
                        Ok(outcome) => {
                            tally.on_outcome(outcome, at);
                            true
                        }
                        Err(e) => {
                            failed = Some(e.to_string());
                            false
                        }
                    },
                });
                if let Err(e) = fed {
                    failed = Some(e.to_string());
                }
            })
            .expect("valid chunked framing");
            assert!(failed.is_none(), "{failed:?}");
        }
        assert!(body.is_done(), "the body ended");
        tally
    }
}

pub mod sim {
    //! The simulator's engine in virtual time, in a decode steady state: every request
    //! admitted, prefilled, and producing one token per engine step.

    use llmsweep_sim::config::{SimOptions, resolve};
    use llmsweep_sim::engine::{Emission, FinishReason, NewRequest, prompt_blocks};
    use llmsweep_sim::sim::Simulator;
    use llmsweep_sim::text::text_key;
    use llmsweep_sim::virtual_run::WorkItem;

    /// Prompt tokens per request.
    pub const PROMPT_LEN: u32 = 256;
    /// Tokens per request: far more than any benchmark runs, so no request finishes.
    pub const OUTPUT_LEN: u32 = 100_000;

    /// The step-level engine (default profile, Llama-3.1-8B on one H100, prefix caching on,
    /// `max_num_seqs` 1024, no jitter).
    pub fn step_engine() -> SimOptions {
        SimOptions::default()
    }

    /// The constant-latency engine (`--profile fixed`, TTFT 50 ms, ITL 10 ms): the plain
    /// baseline that emits the same tokens with no scheduler, KV cache or step-time model.
    pub fn fixed_engine() -> SimOptions {
        SimOptions {
            profile: Some("fixed".into()),
            fixed_ttft_ms: Some(50.0),
            fixed_itl_ms: Some(10.0),
            ..SimOptions::default()
        }
    }

    /// A simulator with `running` requests (all sent at time 0), advanced until every one
    /// has its first token, plus a few steps so the batch is pure decode.
    pub fn decode_snapshot(opts: &SimOptions, running: usize) -> Simulator {
        let config = resolve(opts).expect("a valid configuration");
        let mut sim = config.build();
        for i in 0..running as u64 {
            let item = WorkItem::random(i, PROMPT_LEN, OUTPUT_LEN);
            let (block_hashes, prompt_tail) =
                prompt_blocks(&item.prompt, config.scheduler.block_size);
            sim.submit(NewRequest {
                id: i,
                arrival_ns: 0,
                prompt_len: PROMPT_LEN,
                block_hashes,
                prompt_tail,
                text_key: text_key(config.seed, &item.prompt),
                output_len: OUTPUT_LEN,
                finish: FinishReason::Length,
            });
        }
        let mut out = Vec::new();
        let mut first_tokens = 0;
        while first_tokens < running {
            let t = sim.next_event_ns().expect("requests are live");
            sim.advance_to(t, &mut out);
            first_tokens += out.iter().filter(|e| e.generated == 1).count();
            out.clear();
        }
        for _ in 0..4 {
            step(&mut sim, &mut out);
        }
        let g = sim.gauges();
        assert_eq!(
            (g.running, g.waiting),
            (running as u64, 0),
            "all running, none waiting"
        );
        sim
    }

    /// Advance to the next event (one engine step, or one tick of the fixed engine); returns
    /// the tokens emitted and the virtual time reached.
    pub fn step(sim: &mut Simulator, out: &mut Vec<Emission>) -> (usize, u64) {
        let t = sim.next_event_ns().expect("a running batch");
        sim.advance_to(t, out);
        let n = out.len();
        out.clear();
        (n, t)
    }
}

pub mod stats {
    //! The summary statistics of a bench result (`llmsweep_bench::stats::Summary::of`: one
    //! sort, then every percentile) against computing each percentile on its own.

    use llmsweep_bench::stats::{Summary, mean, percentile_sorted, population_std};

    /// The percentiles of a typical sweep (`--metric-percentiles 25,50,75,90,95,99`).
    pub const PERCENTILES: [f64; 6] = [25.0, 50.0, 75.0, 90.0, 95.0, 99.0];

    /// `n` inter-token-like latencies in seconds (about 10 ms, log-normal, a long right tail),
    /// in random order, from a fixed seed.
    pub fn samples(n: usize) -> Vec<f64> {
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut uniform = move || {
            // xorshift64*
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
        };
        (0..n)
            .map(|_| {
                // Irwin–Hall approximation of a standard normal.
                let z: f64 = (0..12).map(|_| uniform()).sum::<f64>() - 6.0;
                0.010 * (0.4 * z).exp()
            })
            .collect()
    }

    /// Naive baseline: a fresh copy sorted for the median and again for each percentile.
    pub fn sort_per_percentile(values: &[f64], percentiles: &[f64]) -> Summary {
        let sorted_percentile = |p: f64| {
            let mut v = values.to_vec();
            v.sort_by(f64::total_cmp);
            percentile_sorted(&v, p)
        };
        Summary {
            mean: mean(values),
            median: sorted_percentile(50.0),
            std: population_std(values),
            percentiles: percentiles
                .iter()
                .map(|&p| (p, sorted_percentile(p)))
                .collect(),
        }
    }

    /// Stronger baseline: one copy, then a linear-time selection
    /// (`select_nth_unstable_by`) of the two order statistics around each percentile.
    pub fn select_per_percentile(values: &[f64], percentiles: &[f64]) -> Summary {
        let mut work = values.to_vec();
        let mut select = |p: f64| select_percentile(&mut work, p);
        let median = select(50.0);
        let percentiles = percentiles.iter().map(|&p| (p, select(p))).collect();
        Summary {
            mean: mean(values),
            median,
            std: population_std(values),
            percentiles,
        }
    }

    /// `np.percentile(values, p)` (linear) by selection; reorders `values`.
    fn select_percentile(values: &mut [f64], p: f64) -> f64 {
        let n = values.len();
        if n == 0 {
            return 0.0;
        }
        let rank = (p / 100.0).clamp(0.0, 1.0) * (n - 1) as f64;
        let lo = rank.floor() as usize;
        let frac = rank - lo as f64;
        let (_, &mut a, right) = values.select_nth_unstable_by(lo, f64::total_cmp);
        let b = if rank.ceil() as usize == lo {
            a
        } else {
            right.iter().copied().min_by(f64::total_cmp).unwrap_or(a)
        };
        // The same interpolation as `percentile_sorted` (numpy's `_lerp`).
        let diff = b - a;
        if frac >= 0.5 {
            b - diff * (1.0 - frac)
        } else {
            a + diff * frac
        }
    }
}

#[cfg(test)]
mod tests {
    use super::client::{self, Outcome};
    use super::{sim, stats};
    use llmsweep_bench::chunk::ChunkApi;
    use llmsweep_bench::stats::Summary;

    #[test]
    fn scanner_and_value_baseline_agree_on_every_chunk_shape() {
        let cases: &[(&str, ChunkApi)] = &[
            (
                r#"{"choices":[{"text":"hi","index":0}]}"#,
                ChunkApi::Completions,
            ),
            (
                r#"{"choices":[{"text":null}],"usage":null}"#,
                ChunkApi::Completions,
            ),
            (
                r#"{"choices":[{"text":"a\nb"},{"text":"x"}]}"#,
                ChunkApi::Completions,
            ),
            (
                r#"{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":5}}"#,
                ChunkApi::Completions,
            ),
            (r#"{"id":"x","choices":[]}"#, ChunkApi::Completions),
            (
                r#"{"choices":[{"delta":{"role":"assistant","content":""}}]}"#,
                ChunkApi::Chat,
            ),
            (
                r#"{"choices":[{"delta":{"content":"Hi"}}]}"#,
                ChunkApi::Chat,
            ),
            (r#"{"choices":[{"delta":{"content":""}}]}"#, ChunkApi::Chat),
            (
                r#"{"choices":[{"delta":{"reasoning":"hmm"}}]}"#,
                ChunkApi::Chat,
            ),
            (
                r#"{"choices":[{"delta":{"tool_calls":[{"id":"1"}]}}]}"#,
                ChunkApi::Chat,
            ),
            (
                r#"{"choices":[{"delta":{"tool_calls":[]}}]}"#,
                ChunkApi::Chat,
            ),
        ];
        for &(chunk, api) in cases {
            let ours = client::scan(chunk.as_bytes(), api).unwrap();
            let base = client::value(chunk.as_bytes(), api).unwrap();
            assert_eq!(ours, base, "{chunk}");
        }
    }

    #[test]
    fn both_readers_give_the_same_tally_for_a_simulated_stream() {
        for api in [ChunkApi::Completions, ChunkApi::Chat] {
            let events = client::sse_events(api, 256);
            let reads = client::chunked_reads(&events);
            let head = client::stream_head();
            let ours = client::read_stream(&head, &reads, api, client::scan);
            let base = client::read_stream(&head, &reads, api, client::value);
            assert_eq!(ours, base);
            assert!(ours.done);
            assert_eq!(ours.itl.len(), 255, "{api:?}");
            assert_eq!(ours.completion_tokens, Some(256));
            assert!(ours.text_bytes > 256);
            // The measured per-chunk input is a token chunk.
            let token = client::payload(&events[events.len() - 3]);
            assert!(matches!(client::scan(token, api).unwrap(), Outcome::Token(n) if n > 0));
        }
    }

    #[test]
    fn both_engines_emit_one_token_per_running_request_per_step() {
        for opts in [sim::step_engine(), sim::fixed_engine()] {
            let mut s = sim::decode_snapshot(&opts, 64);
            let mut out = Vec::new();
            let (n0, t0) = sim::step(&mut s, &mut out);
            let (n1, t1) = sim::step(&mut s, &mut out);
            assert_eq!((n0, n1), (64, 64));
            assert!(t1 > t0);
        }
    }

    #[test]
    fn percentile_baselines_match_summary_of() {
        for n in (0..40).chain([1000, 100_000]) {
            let xs = stats::samples(n);
            let ours = Summary::of(&xs, &stats::PERCENTILES);
            assert_eq!(
                ours,
                stats::sort_per_percentile(&xs, &stats::PERCENTILES),
                "{n}"
            );
            assert_eq!(
                ours,
                stats::select_per_percentile(&xs, &stats::PERCENTILES),
                "{n}"
            );
        }
    }
}
