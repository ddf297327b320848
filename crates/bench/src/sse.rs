//! A small incremental Server-Sent-Events decoder for the timing hot path.
//!
//! It is fed raw body bytes as they arrive, together with the time they arrived, and yields
//! each event's `data` with the time its last `data:` line was completed. That time, not the
//! time the blank line that ends the event arrived, is when the token was available: a server
//! that splits `data: …\n` and `\n` over two TCP reads does not shift our timestamps.
//!
//! Rules (the line-based parser recommended by vllm-bench.md §5.3): lines end in `\n`, `\r\n`
//! or `\r`; `data:` with or without one space appends to the event's data (several lines are
//! joined with `\n`); a blank line ends the event; `:` lines are comments (pings); `event:`,
//! `id:` and `retry:` lines are ignored; any other non-empty line is a protocol error that
//! fails the request. At end of stream a pending event is still delivered. The decoder does not
//! allocate per event once its buffers have grown to the largest line.

/// One decoded event, borrowing the decoder's buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum SseEvent<'a> {
    /// `data: [DONE]`: the server says the stream is over.
    Done,
    /// Any other data payload (normally one JSON chunk).
    Data(&'a [u8]),
}

/// A line that is not valid SSE.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed SSE line: {line:?}")]
pub struct SseError {
    /// The offending line (lossy UTF-8, cut at 200 bytes).
    pub line: String,
}

/// Incremental decoder; `T` is the arrival timestamp type (an `Instant` in the client).
#[derive(Debug)]
pub struct SseDecoder<T: Copy> {
    line: Vec<u8>,
    data: Vec<u8>,
    has_data: bool,
    data_time: Option<T>,
    skip_lf: bool,
}

impl<T: Copy> Default for SseDecoder<T> {
    fn default() -> Self {
        SseDecoder {
            line: Vec::with_capacity(512),
            data: Vec::with_capacity(512),
            has_data: false,
            data_time: None,
            skip_lf: false,
        }
    }
}

impl<T: Copy> SseDecoder<T> {
    /// A decoder with empty buffers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed bytes that arrived at `now`. `on_event` gets each completed event with the time its
    /// data was complete; it returns `false` to stop decoding (e.g. after `[DONE]`).
    pub fn feed(
        &mut self,
        bytes: &[u8],
        now: T,
        mut on_event: impl FnMut(SseEvent<'_>, T) -> bool,
    ) -> Result<bool, SseError> {
        let mut rest = bytes;
        while !rest.is_empty() {
            if self.skip_lf {
                self.skip_lf = false;
                if rest[0] == b'\n' {
                    rest = &rest[1..];
                    continue;
                }
            }
            match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
                None => {
                    self.line.extend_from_slice(rest);
                    break;
                }
                Some(end) => {
                    self.line.extend_from_slice(&rest[..end]);
                    self.skip_lf = rest[end] == b'\r';
                    rest = &rest[end + 1..];
                    if !self.end_line(now, &mut on_event)? {
                        return Ok(false);
                    }
                }
            }
        }
        Ok(true)
    }

    /// The stream ended: deliver a final event that had no blank line after it.
    pub fn finish(
        &mut self,
        now: T,
        mut on_event: impl FnMut(SseEvent<'_>, T) -> bool,
    ) -> Result<(), SseError> {
        if !self.line.is_empty() && !self.end_line(now, &mut on_event)? {
            return Ok(());
        }
        self.dispatch(now, &mut on_event);
        Ok(())
    }

    fn end_line(
        &mut self,
        now: T,
        on_event: &mut impl FnMut(SseEvent<'_>, T) -> bool,
    ) -> Result<bool, SseError> {
        let line = std::mem::take(&mut self.line);
        let result = self.handle_line(&line, now, on_event);
        self.line = line;
        self.line.clear();
        result
    }

    fn handle_line(
        &mut self,
        line: &[u8],
        now: T,
        on_event: &mut impl FnMut(SseEvent<'_>, T) -> bool,
    ) -> Result<bool, SseError> {
        if line.is_empty() {
            return Ok(self.dispatch(now, on_event));
        }
        if line[0] == b':' {
            return Ok(true);
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &[][..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
                self.data_time = Some(now);
                Ok(true)
            }
            b"event" | b"id" | b"retry" => Ok(true),
            _ => {
                let cut = &line[..line.len().min(200)];
                Err(SseError {
                    line: String::from_utf8_lossy(cut).into_owned(),
                })
            }
        }
    }

    fn dispatch(&mut self, now: T, on_event: &mut impl FnMut(SseEvent<'_>, T) -> bool) -> bool {
        if !self.has_data {
            return true;
        }
        let at = self.data_time.take().unwrap_or(now);
        self.has_data = false;
        let event = if self.data == b"[DONE]" {
            SseEvent::Done
        } else {
            SseEvent::Data(&self.data)
        };
        let keep_going = on_event(event, at);
        self.data.clear();
        keep_going
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `parts[i]` at time `i`, then finish at `parts.len()`; collect (data, time).
    fn decode(parts: &[&[u8]]) -> Result<Vec<(String, usize)>, SseError> {
        let mut dec = SseDecoder::new();
        let mut out = Vec::new();
        let mut push = |e: SseEvent<'_>, t: usize| {
            out.push((
                match e {
                    SseEvent::Done => "[DONE]".to_string(),
                    SseEvent::Data(d) => String::from_utf8(d.to_vec()).unwrap(),
                },
                t,
            ));
            true
        };
        for (t, part) in parts.iter().enumerate() {
            dec.feed(part, t, &mut push)?;
        }
        dec.finish(parts.len(), &mut push)?;
        Ok(out)
    }

    #[test]
    fn events_with_and_without_space_and_done() {
        let got = decode(&[b"data: {\"a\":1}\n\ndata:{\"b\":2}\n\ndata: [DONE]\n\n"]).unwrap();
        assert_eq!(
            got,
            vec![
                ("{\"a\":1}".into(), 0),
                ("{\"b\":2}".into(), 0),
                ("[DONE]".into(), 0)
            ]
        );
    }

    #[test]
    fn split_reads_keep_the_time_the_data_line_completed() {
        let got = decode(&[
            b"da",
            b"ta: {\"x\"",
            b":1}\n",
            b"\n",
            b"data: 2\r\n\r",
            b"\n",
        ])
        .unwrap();
        assert_eq!(got, vec![("{\"x\":1}".into(), 2), ("2".into(), 4)]);
    }

    #[test]
    fn comments_event_and_id_lines_are_ignored() {
        let got = decode(&[b": ping\n\nevent: message\nid: 7\nretry: 10\ndata: x\n\n"]).unwrap();
        assert_eq!(got, vec![("x".into(), 0)]);
    }

    #[test]
    fn multi_line_data_is_joined_with_newline() {
        assert_eq!(
            decode(&[b"data: a\ndata: b\n\n"]).unwrap(),
            vec![("a\nb".into(), 0)]
        );
    }

    #[test]
    fn pending_event_is_delivered_at_end_of_stream() {
        assert_eq!(decode(&[b"data: last"]).unwrap(), vec![("last".into(), 1)]);
        assert_eq!(
            decode(&[b"data: last\n"]).unwrap(),
            vec![("last".into(), 0)]
        );
    }

    #[test]
    fn garbage_line_is_an_error_naming_it() {
        let err = decode(&[b"data: ok\n\nthis is not sse\n\n"]).unwrap_err();
        assert_eq!(err.line, "this is not sse");
    }

    #[test]
    fn callback_can_stop_decoding() {
        let mut dec = SseDecoder::new();
        let mut seen = 0;
        let go_on = dec
            .feed(b"data: [DONE]\n\ndata: after\n\n", 0, |_, _| {
                seen += 1;
                false
            })
            .unwrap();
        assert!(!go_on);
        assert_eq!(seen, 1);
    }

    #[test]
    fn byte_by_byte_matches_whole() {
        let whole: &[u8] = b"data: {\"choices\":[{\"text\":\"hi\"}]}\n\n: c\ndata: [DONE]\n\n";
        let parts: Vec<&[u8]> = whole.chunks(1).collect();
        let got: Vec<String> = decode(&parts)
            .unwrap()
            .into_iter()
            .map(|(d, _)| d)
            .collect();
        assert_eq!(
            got,
            vec![
                "{\"choices\":[{\"text\":\"hi\"}]}".to_string(),
                "[DONE]".into()
            ]
        );
    }
}
