//! Compatibility with files written by vLLM 0.33.0's `vllm bench serve` (tests/fixtures).

use llmsweep_bench::pyjson::to_python_json;
use serde_json::{Map, Value};

fn fixture(name: &str) -> (String, Map<String, Value>) {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let map = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    (text, map)
}

fn keys(map: &Map<String, Value>) -> Vec<&str> {
    map.keys().map(String::as_str).collect()
}

#[test]
fn llmsweep_writes_vllms_keys_in_vllms_order() {
    for (vllm, ours) in [
        ("vllm-0.33.0-result.json", "llmsweep-result.json"),
        (
            "vllm-0.33.0-result-detailed.json",
            "llmsweep-result-detailed.json",
        ),
    ] {
        let (_, v) = fixture(vllm);
        let (_, o) = fixture(ours);
        let (vk, ok) = (keys(&v), keys(&o));
        assert_eq!(&ok[..vk.len()], &vk[..], "{ours} vs {vllm}");
        for extra in &ok[vk.len()..] {
            assert!(!v.contains_key(*extra));
        }
        // Same types key by key (a float stays a float, null stays null).
        for k in vk {
            let kind = |x: &Value| match x {
                Value::Number(n) if n.is_f64() => "float",
                Value::Number(_) => "int",
                Value::String(_) => "str",
                Value::Null => "null",
                Value::Bool(_) => "bool",
                Value::Array(_) => "list",
                Value::Object(_) => "dict",
            };
            assert_eq!(kind(&v[k]), kind(&o[k]), "{k} in {ours}");
        }
    }
}

#[test]
fn python_json_writer_reproduces_vllms_bytes() {
    for name in [
        "vllm-0.33.0-result.json",
        "vllm-0.33.0-result-detailed.json",
        "llmsweep-result.json",
    ] {
        let (text, map) = fixture(name);
        assert_eq!(to_python_json(&Value::Object(map)), text, "{name}");
    }
}
