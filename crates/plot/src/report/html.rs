//! Small HTML writing helpers: escaping, sortable tables, and JSON safe to inline in a
//! `<script>` element.

use serde::Serialize;

/// Escape text for HTML element content and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON that can sit inside `<script type="application/json">`: `<`, `>` and `&` are
/// written as `\u003c`-style escapes, so no `</script>` or `<!--` can appear.
pub fn script_json<T: Serialize>(value: &T) -> String {
    let text = serde_json::to_string(value).unwrap_or_else(|_| "null".into());
    text.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// Make inlined JavaScript safe inside `<script>`: `</script` (any case) becomes
/// `<\/script` and `<!--` becomes `<\!--`. Both can only occur inside string literals,
/// where the escapes mean the same characters.
pub fn script_code(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let lower = code.to_ascii_lowercase();
    let mut i = 0;
    while i < code.len() {
        if lower[i..].starts_with("</script") {
            out.push_str("<\\/");
            i += 2;
        } else if code[i..].starts_with("<!--") {
            out.push_str("<\\!--");
            i += 4;
        } else {
            let c = code[i..].chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// One table cell: its text, and the number it sorts by (text sorts alphabetically).
#[derive(Debug, Clone, Default)]
pub struct Cell {
    /// The text shown.
    pub text: String,
    /// Sort key for numeric columns.
    pub sort: Option<f64>,
    /// A tooltip.
    pub title: Option<String>,
    /// A CSS class (e.g. `bad`, `good`, `num`).
    pub class: Option<&'static str>,
    /// Text shown as preformatted (commands, errors).
    pub pre: bool,
}

impl Cell {
    /// A text cell.
    pub fn text(t: impl Into<String>) -> Self {
        Cell {
            text: t.into(),
            ..Cell::default()
        }
    }

    /// A number cell, shown with up to four significant digits.
    pub fn num(v: f64) -> Self {
        Cell {
            text: crate::scale::format_value(v),
            sort: Some(v),
            class: Some("num"),
            ..Cell::default()
        }
    }

    /// An empty cell.
    pub fn empty() -> Self {
        Cell::default()
    }

    /// The same cell with a tooltip.
    pub fn with_title(mut self, t: impl Into<String>) -> Self {
        self.title = Some(t.into());
        self
    }

    /// The same cell with a CSS class.
    pub fn with_class(mut self, c: &'static str) -> Self {
        self.class = Some(c);
        self
    }

    /// The same cell, preformatted.
    pub fn preformatted(mut self) -> Self {
        self.pre = true;
        self
    }
}

/// A table whose columns sort on a click (see report.js). `headers` are
/// `(text, tooltip)`.
pub fn table(id: &str, headers: &[(String, String)], rows: &[Vec<Cell>]) -> String {
    let mut out = format!(
        "<div class=\"table-wrap\"><table class=\"sortable\" id=\"{}\">\n<thead><tr>",
        esc(id)
    );
    for (h, tip) in headers {
        if tip.is_empty() {
            out.push_str(&format!("<th>{}</th>", esc(h)));
        } else {
            out.push_str(&format!("<th title=\"{}\">{}</th>", esc(tip), esc(h)));
        }
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            out.push_str("<td");
            if let Some(v) = cell.sort.filter(|v| !v.is_nan()) {
                out.push_str(&format!(" data-v=\"{v}\""));
            }
            if let Some(t) = &cell.title {
                out.push_str(&format!(" title=\"{}\"", esc(t)));
            }
            if let Some(c) = cell.class {
                out.push_str(&format!(" class=\"{c}\""));
            }
            out.push('>');
            if cell.pre {
                out.push_str(&format!("<pre>{}</pre>", esc(&cell.text)));
            } else {
                out.push_str(&esc(&cell.text));
            }
            out.push_str("</td>");
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table></div>\n");
    out
}

/// A two-column table of facts (`key`, `value`).
pub fn facts(rows: &[(String, String)]) -> String {
    let mut out = String::from("<table class=\"facts\">\n");
    for (k, v) in rows {
        out.push_str(&format!(
            "<tr><th>{}</th><td>{}</td></tr>\n",
            esc(k),
            esc(v)
        ));
    }
    out.push_str("</table>\n");
    out
}

/// A paragraph saying plainly that something is absent.
pub fn absent(text: &str) -> String {
    format!("<p class=\"absent\">{}</p>\n", esc(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(
            esc("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
        let j = script_json(&serde_json::json!({"s": "</script><!--&"}));
        assert!(
            !j.contains('<') && !j.contains('>') && !j.contains('&'),
            "{j}"
        );
        let back: serde_json::Value = serde_json::from_str(&j).unwrap();
        assert_eq!(back["s"], "</script><!--&");
        assert_eq!(
            script_code("a</script>b</div><!--"),
            "a<\\/script>b</div><\\!--"
        );
        assert_eq!(script_code("x</SCRIPT>é"), "x<\\/SCRIPT>é");
    }

    #[test]
    fn tables_carry_sort_keys_and_escape() {
        let html = table(
            "t",
            &[("A<".into(), String::new()), ("B".into(), "tip".into())],
            &[vec![Cell::text("x&y"), Cell::num(1234.5678)]],
        );
        assert!(html.contains("<th>A&lt;</th>"));
        assert!(html.contains("title=\"tip\""));
        assert!(html.contains("data-v=\"1234.5678\""));
        assert!(html.contains(">1235<"));
        assert!(html.contains("x&amp;y"));
    }
}
