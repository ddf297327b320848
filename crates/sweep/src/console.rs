//! Writing to the terminal without dying of it: a closed stdout or stderr (`llmsweep serve
//! … 2>&1 | head -1`) never panics or kills the process on the spot; it stops the sweep
//! like Ctrl-C does (see [`crate::signals`]). Text that came from the user's files (a
//! `_benchmark_name`, a parameter value) is shown with its control characters escaped, so
//! that it cannot move the cursor or recolour the terminal.

use std::borrow::Cow;
use std::io::Write;

/// Write `text` and a newline to stderr. A closed stderr asks the sweep to stop.
pub fn line(text: &str) {
    let mut err = std::io::stderr().lock();
    let written = writeln!(err, "{}", escape_keep_lines(text)).and_then(|()| err.flush());
    check(written);
}

/// Note a write's outcome: a broken pipe asks the sweep to stop (once).
pub fn check(result: std::io::Result<()>) {
    if let Err(e) = result
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        crate::signals::output_closed();
    }
}

fn escape_char(c: char, out: &mut String) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{1b}' => out.push_str("\\e"),
        c if (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
        c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
    }
}

/// `text` with every control character (newlines and tabs included) escaped: `\e`, `\n`,
/// `\x07`…, for one-line fields such as names.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            escape_char(c, &mut out);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `text` with control characters escaped except newlines and tabs, for multi-line
/// messages.
pub fn escape_keep_lines(text: &str) -> Cow<'_, str> {
    let bad = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.chars().any(bad) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if bad(c) {
            escape_char(c, &mut out);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Shorten `text` to at most `width` characters by cutting its middle (keeping its start
/// and, above all, its end, where names differ), marking the cut with `…`.
pub fn shorten_middle(text: &str, width: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let keep = width - 1;
    let head = keep / 4;
    let tail = keep - head;
    let mut out: String = chars[..head].iter().collect();
    out.push('…');
    out.extend(&chars[chars.len() - tail..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape("plain"), "plain");
        assert_eq!(escape("a\u{1b}[31mred\x07\nb"), "a\\e[31mred\\x07\\nb");
        assert_eq!(escape("\u{9b}x"), "\\x9bx");
        assert_eq!(
            escape_keep_lines("line 1\n\tline\r2\u{1b}]0;t"),
            "line 1\n\tline\\r2\\e]0;t"
        );
    }

    #[test]
    fn the_middle_goes_first() {
        assert_eq!(shorten_middle("short", 10), "short");
        let s = "SERVE--max_num_seqs=32-BENCH--max_concurrency=16";
        let cut = shorten_middle(s, 20);
        assert_eq!(cut.chars().count(), 20);
        assert!(
            cut.starts_with("SERV") && cut.ends_with("_concurrency=16"),
            "{cut}"
        );
        assert!(cut.contains('…'));
        assert_eq!(shorten_middle(s, 1), "…");
        assert_eq!(shorten_middle(s, 0), "");
    }
}
