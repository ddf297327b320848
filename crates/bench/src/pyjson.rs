//! Write JSON exactly like Python's `json.dump(obj, f)` with default settings.
//!
//! vLLM writes its result file with `json.dump`: separators `", "` and `": "`, no indent,
//! `ensure_ascii=True` (every non-ASCII character as a lowercase `\uXXXX` escape, surrogate
//! pairs above U+FFFF) and floats in Python's `repr` (shortest round-trip digits, always with a
//! `.0` or an exponent, exponent form below 1e-4 and from 1e16 up, e.g. `1e-05`, `1e+16`).
//! Downstream tools diff these files, so we match the bytes, not only the meaning.

use serde_json::Value;

/// Prefix of a string that stands for a non-finite float (see [`float_value`]). It starts
/// with a NUL character, which no flag, file name or label given on a command line can hold.
const NON_FINITE_MARKER: &str = "\u{0}pyjson-float:";

/// A float as a JSON value that [`to_python_json`] writes as Python does: finite floats as
/// numbers; `inf`, `-inf` and `nan` (which `serde_json` cannot hold) as a marked string that
/// is written bare as `Infinity`, `-Infinity` or `NaN`. Readers of the file must accept those
/// tokens, as they must for vLLM's own files (`llmsweep_core::record::parse_json_lenient`).
pub fn float_value(x: f64) -> Value {
    match serde_json::Number::from_f64(x) {
        Some(n) => Value::Number(n),
        None => Value::String(format!("{NON_FINITE_MARKER}{}", python_float_repr(x))),
    }
}

/// The float behind a value made by [`float_value`] (or any JSON number).
pub fn as_float(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.strip_prefix(NON_FINITE_MARKER)? {
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            "NaN" => Some(f64::NAN),
            _ => None,
        },
        _ => None,
    }
}

/// Serialize `value` the way Python's `json.dumps(value)` would.
pub fn to_python_json(value: &Value) -> String {
    let mut out = String::with_capacity(4096);
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.push_str(&i.to_string());
            } else if let Some(u) = n.as_u64() {
                out.push_str(&u.to_string());
            } else {
                out.push_str(&python_float_repr(n.as_f64().unwrap_or(f64::NAN)));
            }
        }
        Value::String(s) => match s.strip_prefix(NON_FINITE_MARKER) {
            Some(bare @ ("Infinity" | "-Infinity" | "NaN")) => out.push_str(bare),
            _ => write_string(out, s),
        },
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_string(out, key);
                out.push_str(": ");
                write_value(out, item);
            }
            out.push('}');
        }
    }
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Python's `repr(float)`: `1.0`, `0.1`, `1e-05`, `1e+16`, `1.5e+300`, `inf`, `nan`.
///
/// Python's json module writes non-finite floats as `Infinity` / `NaN` (see [`float_value`];
/// vLLM turns an infinite rate into the string `"inf"` itself).
pub fn python_float_repr(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    // `{:e}` gives the shortest round-trip digits, e.g. "1.2345e-5" or "-3e20".
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    // Python uses fixed notation when -4 <= exp < 16.
    if (-4..16).contains(&exp) {
        let point = exp + 1; // position of the decimal point within `digits`
        let body = if point <= 0 {
            format!("0.{}{}", "0".repeat((-point) as usize), digits)
        } else if point as usize >= digits.len() {
            format!("{}{}.0", digits, "0".repeat(point as usize - digits.len()))
        } else {
            let (int, frac) = digits.split_at(point as usize);
            format!("{int}.{frac}")
        };
        format!("{sign}{body}")
    } else {
        let mant = if digits.len() == 1 {
            digits.clone()
        } else {
            format!("{}.{}", &digits[..1], &digits[1..])
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{mant}e{esign}{:02}", exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn float_repr_matches_python() {
        // Each right-hand side is Python's repr() of the same float.
        let cases: &[(f64, &str)] = &[
            (1.0, "1.0"),
            (0.1, "0.1"),
            (10.0, "10.0"),
            (1e-4, "0.0001"),
            (1e-5, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.2345e22, "1.2345e+22"),
            (1.8493074450002496, "1.8493074450002496"),
            (-0.00028766699961124687, "-0.00028766699961124687"),
            (123456.789, "123456.789"),
            (1e300, "1e+300"),
            (-2.5e-300, "-2.5e-300"),
            (0.0, "0.0"),
        ];
        for (x, want) in cases {
            assert_eq!(python_float_repr(*x), *want, "repr({x:e})");
        }
    }

    #[test]
    fn dumps_like_python_json_dump() {
        let v = json!({"date": "20261127-214701", "rate": "inf", "burstiness": 1.0,
                       "max_concurrency": null, "n": 16, "ok": true, "l": [0.5, 2, []],
                       "o": {"a": "é\"\\\n😀\u{1}"}});
        assert_eq!(
            to_python_json(&v),
            r#"{"date": "20261127-214701", "rate": "inf", "burstiness": 1.0, "max_concurrency": null, "n": 16, "ok": true, "l": [0.5, 2, []], "o": {"a": "\u00e9\"\\\n\ud83d\ude00\u0001"}}"#
        );
    }

    #[test]
    fn non_finite_floats_are_written_bare_like_python() {
        // json.dumps({"b": float("inf"), "c": float("-inf"), "d": float("nan"), "e": 2.0})
        let v = json!({"b": float_value(f64::INFINITY), "c": float_value(f64::NEG_INFINITY),
                       "d": float_value(f64::NAN), "e": float_value(2.0), "s": "Infinity"});
        assert_eq!(
            to_python_json(&v),
            r#"{"b": Infinity, "c": -Infinity, "d": NaN, "e": 2.0, "s": "Infinity"}"#
        );
        assert_eq!(as_float(&v["b"]), Some(f64::INFINITY));
        assert_eq!(as_float(&v["c"]), Some(f64::NEG_INFINITY));
        assert!(as_float(&v["d"]).unwrap().is_nan());
        assert_eq!(as_float(&v["e"]), Some(2.0));
        assert_eq!(as_float(&v["s"]), None, "a plain string is not a float");
        // A marker followed by anything else is an ordinary string.
        let odd = Value::String(format!("{NON_FINITE_MARKER}x"));
        assert_eq!(to_python_json(&odd), r#""\u0000pyjson-float:x""#);
    }

    #[test]
    fn del_character_is_escaped_like_python() {
        // json.dumps("\x7f") == '"\\u007f"'
        assert_eq!(to_python_json(&json!("\u{7f}")), r#""\u007f""#);
    }
}
