//! A small block-style YAML writer for manifests that every YAML reader takes the same way.
//!
//! Kubernetes reads manifests with a YAML 1.1 resolver (`sigs.k8s.io/yaml`), where plain
//! scalars such as `yes`, `off`, `y`, `N`, `~`, `0x1F`, `1_000` or `12:30` are not strings;
//! YAML 1.2 readers differ again. A general serializer quotes only what YAML 1.2 would
//! misread, so here every string value is written double-quoted with JSON escaping (a JSON
//! string is a valid YAML double-quoted scalar in both versions). Mapping keys stay plain
//! only when they are a bare word that no resolver reads as anything but a string
//! (`apiVersion`, `spec`); any other key is quoted too. Numbers, booleans and null are
//! written as themselves.

use serde_json::Value;

/// The bare words YAML 1.1 resolves to a boolean or null (compared case-insensitively:
/// its resolver takes `yes`, `Yes` and `YES`, and we quote `yEs` too for good measure).
const RESERVED_WORDS: [&str; 9] = ["y", "n", "yes", "no", "on", "off", "true", "false", "null"];

/// A string as a double-quoted scalar.
fn quoted(s: &str) -> String {
    // A JSON string literal: `"`, `\` and control characters escaped, the rest verbatim.
    Value::String(s.to_string()).to_string()
}

/// A mapping key: plain when it is an ASCII word that reads as a string everywhere.
fn key(k: &str) -> String {
    let plain = k.starts_with(|c: char| c.is_ascii_alphabetic())
        && k.chars().all(|c| c.is_ascii_alphanumeric())
        && !RESERVED_WORDS.iter().any(|w| w.eq_ignore_ascii_case(k));
    if plain { k.to_string() } else { quoted(k) }
}

/// A value that fits on the line of its key or dash.
fn inline(v: &Value) -> Option<String> {
    match v {
        Value::Null => Some("null".into()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(quoted(s)),
        Value::Array(a) if a.is_empty() => Some("[]".into()),
        Value::Object(o) if o.is_empty() => Some("{}".into()),
        _ => None,
    }
}

fn write(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(map) => {
            for (k, item) in map {
                out.push_str(&pad);
                out.push_str(&key(k));
                out.push(':');
                match inline(item) {
                    Some(s) => {
                        out.push(' ');
                        out.push_str(&s);
                        out.push('\n');
                    }
                    None => {
                        out.push('\n');
                        write(item, indent + 2, out);
                    }
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                out.push_str(&pad);
                out.push('-');
                match inline(item) {
                    Some(s) => {
                        out.push(' ');
                        out.push_str(&s);
                        out.push('\n');
                    }
                    None => {
                        // The item's block, indented past the dash, with its first line
                        // moved up onto the dash's line.
                        let mut block = String::new();
                        write(item, indent + 2, &mut block);
                        out.push(' ');
                        out.push_str(&block[indent + 2..]);
                    }
                }
            }
        }
        scalar => {
            out.push_str(&pad);
            out.push_str(&inline(scalar).unwrap_or_default());
            out.push('\n');
        }
    }
}

/// `value` as a YAML document in block style, every string double-quoted.
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    write(value, 0, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// How a YAML 1.1 reader (Kubernetes, PyYAML) resolves a plain scalar: `None` when it
    /// stays a string. Follows the 1.1 type repository (bool, null, int, float).
    fn yaml11_non_string(plain: &str) -> Option<&'static str> {
        let lower = plain.to_ascii_lowercase();
        if ["y", "n", "yes", "no", "on", "off", "true", "false"].contains(&lower.as_str()) {
            return Some("bool");
        }
        if ["", "~", "null"].contains(&lower.as_str()) {
            return Some("null");
        }
        let body = plain.trim_start_matches(['+', '-']);
        if !body.is_empty()
            && (body
                .chars()
                .all(|c| c.is_ascii_digit() || c == '_' || c == ':')
                || body.starts_with("0x")
                || body.starts_with("0b"))
        {
            return Some("int");
        }
        if body.starts_with(|c: char| c.is_ascii_digit() || c == '.') && body.parse::<f64>().is_ok()
            || [".inf", ".nan"].contains(&body.to_ascii_lowercase().as_str())
        {
            return Some("float");
        }
        None
    }

    /// Every scalar written plain (not double-quoted) in `yaml`, keys and values.
    fn plain_scalars(yaml: &str) -> Vec<String> {
        let mut found = Vec::new();
        for line in yaml.lines() {
            let mut rest = line.trim_start();
            while let Some(r) = rest.strip_prefix("- ") {
                rest = r;
            }
            if rest.starts_with('"') {
                // A quoted key (or item): skip it; a value may follow its colon.
                let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<String>();
                stream.next().unwrap().unwrap();
                let after = &rest[stream.byte_offset()..];
                if let Some(v) = after.strip_prefix(": ")
                    && !v.starts_with('"')
                    && !["{}", "[]"].contains(&v)
                {
                    found.push(v.to_string());
                }
                continue;
            }
            match rest.split_once(':') {
                Some((k, v)) => {
                    found.push(k.to_string());
                    let v = v.trim_start();
                    if !v.is_empty() && !v.starts_with('"') && !["{}", "[]"].contains(&v) {
                        found.push(v.to_string());
                    }
                }
                None if !rest.starts_with('"') && !rest.is_empty() => found.push(rest.to_string()),
                None => {}
            }
        }
        found
    }

    const TRICKY: [&str; 34] = [
        "yes",
        "no",
        "on",
        "off",
        "y",
        "n",
        "Y",
        "N",
        "Yes",
        "OFF",
        "true",
        "False",
        "null",
        "Null",
        "~",
        "",
        "0",
        "007",
        "1_000",
        "0x1F",
        "-3",
        "+4",
        "1e3",
        "3.14",
        ".5",
        ".inf",
        "12:30",
        "a: b",
        "# comment",
        "- item",
        "&anchor",
        "*alias",
        "!tag",
        "{a}",
    ];

    #[test]
    fn tricky_strings_are_quoted_and_read_back_as_the_same_strings() {
        let mut env = Vec::new();
        let mut selector = serde_json::Map::new();
        for (i, s) in TRICKY.iter().enumerate() {
            env.push(json!({"name": format!("V{i}"), "value": s}));
            selector.insert((*s).to_string(), json!(s));
        }
        let extra = [
            "quote \" and \\ backslash",
            "line\nbreak\ttab",
            "ünïcode ✓ 𝄞",
            "\u{1}ctl",
            "%percent",
            "@at",
            "`tick",
            "|pipe",
            ">fold",
            "'single",
            "[list]",
            "?q",
            " leading space",
            "trailing space ",
        ];
        for s in extra {
            env.push(json!({"name": "E", "value": s}));
        }
        let doc = json!({
            "apiVersion": "batch/v1",
            "count": 3,
            "ratio": 0.5,
            "flag": true,
            "nothing": null,
            "empty": {},
            "none": [],
            "env": env,
            "nodeSelector": selector,
            "nested": [[1, "yes"], [], {"on": ["off"]}],
        });
        let text = to_string(&doc);
        // Round trip through a YAML reader: the same data back.
        let back: Value = serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(back, doc, "{text}");
        // And nothing a YAML 1.1 reader could take for other than a string, except the
        // number, boolean and null we wrote on purpose.
        let plain = plain_scalars(&text);
        for p in &plain {
            if let Some(kind) = yaml11_non_string(p) {
                assert!(
                    ["3", "0.5", "true", "null", "1"].contains(&p.as_str()),
                    "plain {kind} scalar {p:?} in\n{text}"
                );
            }
        }
        assert!(plain.contains(&"apiVersion".to_string()), "{plain:?}");
        assert!(text.contains("apiVersion: \"batch/v1\"\n"), "{text}");
        for s in TRICKY {
            assert!(
                text.contains(&format!("value: {}\n", quoted(s))),
                "{s:?}\n{text}"
            );
            assert!(
                text.contains(&format!("  {}: ", quoted(s))),
                "{s:?}\n{text}"
            );
        }
    }

    #[test]
    fn the_check_itself_flags_yaml_1_1_words() {
        // The checker above must not pass everything.
        for p in [
            "yes", "Off", "N", "~", "12", "1_0", "0x1", "1.5", "12:30", ".inf",
        ] {
            assert!(yaml11_non_string(p).is_some(), "{p}");
        }
        for p in ["H100", "apiVersion", "batch/v1", "yess"] {
            assert!(yaml11_non_string(p).is_none(), "{p}");
        }
        assert_eq!(
            plain_scalars("a: yes\n\"b\": \"c\"\n- - x: 1\n\"k\": on\n"),
            ["a", "yes", "x", "1", "on"]
        );
    }

    #[test]
    fn layout_of_sequences_of_mappings() {
        let doc = json!({"containers": [{"name": "a", "env": [{"name": "X", "value": "1"}]}]});
        assert_eq!(
            to_string(&doc),
            "containers:\n  - name: \"a\"\n    env:\n      - name: \"X\"\n        value: \"1\"\n"
        );
        assert_eq!(to_string(&json!({"on": "x"})), "\"on\": \"x\"\n");
    }
}
