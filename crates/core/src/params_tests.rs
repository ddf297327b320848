use super::*;
use serde_json::json;

fn item(v: Value) -> ParamItem {
    match v {
        Value::Object(m) => ParamItem::new(m),
        _ => panic!("test item must be an object"),
    }
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

/// (base command, item, expected command)
#[test]
fn rewriting_rules() {
    let cases: &[(&str, Value, &str)] = &[
        // appended, spelled with '-'
        (
            "vllm serve m",
            json!({"max_num_seqs": 64}),
            "vllm serve m --max-num-seqs 64",
        ),
        // replaced in place, any spelling of the existing flag
        (
            "vllm serve m --max-num-seqs 8 --x 1",
            json!({"max_num_seqs": 64}),
            "vllm serve m --max-num-seqs 64 --x 1",
        ),
        (
            "vllm serve m --max_num_seqs 8",
            json!({"max-num-seqs": 64}),
            "vllm serve m --max-num-seqs 64",
        ),
        // beyond vLLM: --k=value is replaced too
        (
            "vllm serve m --max-num-seqs=8",
            json!({"max_num_seqs": 64}),
            "vllm serve m --max-num-seqs=64",
        ),
        // every occurrence (argparse takes the last)
        ("b --n 1 --n 2", json!({"n": 3}), "b --n 3 --n 3"),
        // booleans
        (
            "vllm serve m",
            json!({"enforce_eager": true}),
            "vllm serve m --enforce-eager",
        ),
        (
            "vllm serve m",
            json!({"enable_prefix_caching": false}),
            "vllm serve m --no-enable-prefix-caching",
        ),
        (
            "vllm serve m --enable-prefix-caching",
            json!({"enable_prefix_caching": false}),
            "vllm serve m --no-enable-prefix-caching",
        ),
        (
            "vllm serve m --no-enable-prefix-caching",
            json!({"enable_prefix_caching": true}),
            "vllm serve m --enable-prefix-caching",
        ),
        // dotted keys: only the prefix is normalized; booleans as =true/false
        (
            "vllm serve m",
            json!({"compilation_config.cudagraph_mode": "FULL"}),
            "vllm serve m --compilation-config.cudagraph_mode FULL",
        ),
        (
            "vllm serve m",
            json!({"compilation_config.use_inductor": false}),
            "vllm serve m --compilation-config.use_inductor=false",
        ),
        (
            "vllm serve m --compilation_config.level 1",
            json!({"compilation_config.level": 3}),
            "vllm serve m --compilation-config.level 3",
        ),
        // objects and lists as compact JSON
        (
            "vllm serve m",
            json!({"speculative_config": {"method": "ngram", "n": 2}}),
            "vllm serve m --speculative-config {\"method\":\"ngram\",\"n\":2}",
        ),
        (
            "b",
            json!({"goodput": ["ttft:50", "tpot:5"]}),
            "b --goodput [\"ttft:50\",\"tpot:5\"]",
        ),
        // floats with Python's spelling, strings as they are
        (
            "b",
            json!({"request_rate": 1.0, "model": "a/b"}),
            "b --request-rate 1.0 --model a/b",
        ),
        // _benchmark_name is never passed
        ("b", json!({"_benchmark_name": "x", "n": 1}), "b --n 1"),
        // a flag without a value gets one inserted, the next flag survives
        ("b --n --m 2", json!({"n": 5}), "b --n 5 --m 2"),
        // null removes the flag
        ("b --n 1 --m 2", json!({"n": null}), "b --m 2"),
        ("b --n=1 --m 2", json!({"n": null}), "b --m 2"),
        ("b --m 2", json!({"n": null}), "b --m 2"),
        // a longer flag sharing a prefix is not a match
        (
            "b --num-prompts-x 1",
            json!({"num_prompts": 2}),
            "b --num-prompts-x 1 --num-prompts 2",
        ),
    ];
    for (base, params, want) in cases {
        let got = item(params.clone()).apply_to_cmd(&words(base));
        assert_eq!(got, words(want), "base={base:?} params={params}");
    }
}

#[test]
fn names_follow_vllm() {
    assert_eq!(
        item(json!({"a": 1, "b": true, "c": 0.5})).name(),
        "a=1-b=True-c=0.5"
    );
    assert_eq!(
        item(json!({"_benchmark_name": "fast", "a": 1})).name(),
        "fast"
    );
    assert_eq!(item(json!({})).name(), "");
    assert_eq!(item(json!({"a": 1, "b": "x"})).to_string(), "a=1, b=x");
}

#[test]
fn lookups_try_every_spelling() {
    let it = item(json!({"max-concurrency": 4}));
    assert_eq!(it.get("max_concurrency"), Some(&json!(4)));
    assert!(it.has_param("max-concurrency"));
    assert!(!it.has_param("request_rate"));
}

#[test]
fn merge_keeps_order_and_overrides() {
    let a = item(json!({"x": 1, "y": 2}));
    let b = item(json!({"y": 3, "z": 4}));
    let m = a.merged(&b);
    assert_eq!(
        serde_json::to_string(m.as_map()).unwrap(),
        r#"{"x":1,"y":3,"z":4}"#
    );
}

#[test]
fn files_as_list_or_named_object() {
    let s = ParamSweep::from_json_str(r#"[{"a": 1}, {}]"#, "p.json").unwrap();
    assert_eq!(s.len(), 2);
    let s = ParamSweep::from_json_str(r#"{"fast": {"a": 1}, "slow": {"a": 2}}"#, "p.json").unwrap();
    assert_eq!(s[1].name(), "slow");
    assert_eq!(s[1].get(NAME_KEY), Some(&json!("slow")));
    assert_eq!(ParamSweep::load(None).unwrap().len(), 1);
    assert!(ParamSweep::load(None).unwrap()[0].is_empty());
}

#[test]
fn bad_files_say_what_and_where() {
    let err = |text: &str| {
        ParamSweep::from_json_str(text, "dir/p.json")
            .unwrap_err()
            .to_string()
    };
    let e = err("[{\"a\": 1},\n {\"b\": }]");
    assert!(e.contains("dir/p.json") && e.contains("line 2"), "{e}");
    let e = err("5");
    assert!(
        e.contains("list of objects") && e.contains("a number"),
        "{e}"
    );
    let e = err("[{\"a\": 1}, 3]");
    assert!(e.contains("item 1") && e.contains("a number"), "{e}");
    let e = err("{\"x\": [1]}");
    assert!(e.contains("entry \"x\"") && e.contains("a list"), "{e}");
    let e = err("[{\"_benchmark_name\": \"a\"}, {\"_benchmark_name\": \"a\"}]");
    assert!(e.contains("duplicate") && e.contains("\"a\""), "{e}");
    let e = err("[]");
    assert!(e.contains("no items"), "{e}");
    let e = ParamSweep::load(Some(Path::new("/nonexistent/p.json")))
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent/p.json"), "{e}");
}

#[test]
fn a_missing_file_names_the_os_error_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.json");
    let e = ParamSweep::load(Some(&missing)).unwrap_err();
    // As anyhow prints a chain ("{:#}"): the message, then every source.
    let mut chain = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        chain.push_str(&format!(": {s}"));
        source = s.source();
    }
    assert!(chain.contains("missing.json"), "{chain}");
    assert_eq!(chain.matches("os error 2").count(), 1, "{chain}");
}
