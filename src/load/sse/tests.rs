//! Tests of the SSE parser: mlx_lm.server's stream whole, one byte at a
//! time and split at every byte; LF, CRLF and lone CR line endings, also
//! across chunks; comments, ignored fields, multi-line data, a BOM, invalid
//! UTF-8, and what `finish` flushes.

use super::*;

const MLX_STREAM: &str = concat!(
    ": keepalive 1/1\n",
    "\n",
    "data: {\"object\": \"chat.completion.chunk\", \"choices\": [{\"index\": 0, \"finish_reason\": null, \"delta\": {\"role\": \"assistant\", \"content\": \"our\"}}]}\n",
    "\n",
    "data: {\"object\": \"chat.completion.chunk\", \"choices\": [{\"index\": 0, \"finish_reason\": \"length\", \"delta\": {\"role\": \"assistant\"}}]}\n",
    "\n",
    "data: {\"object\": \"chat.completion\", \"choices\": [], \"usage\": {\"prompt_tokens\": 6, \"completion_tokens\": 5, \"total_tokens\": 11}}\n",
    "\n",
    "data: [DONE]\n",
    "\n",
);

fn expected_mlx() -> Vec<SseEvent> {
    vec![
        SseEvent::Comment("keepalive 1/1".into()),
        SseEvent::Data("{\"object\": \"chat.completion.chunk\", \"choices\": [{\"index\": 0, \"finish_reason\": null, \"delta\": {\"role\": \"assistant\", \"content\": \"our\"}}]}".into()),
        SseEvent::Data("{\"object\": \"chat.completion.chunk\", \"choices\": [{\"index\": 0, \"finish_reason\": \"length\", \"delta\": {\"role\": \"assistant\"}}]}".into()),
        SseEvent::Data("{\"object\": \"chat.completion\", \"choices\": [], \"usage\": {\"prompt_tokens\": 6, \"completion_tokens\": 5, \"total_tokens\": 11}}".into()),
        SseEvent::Data("[DONE]".into()),
    ]
}

/// Feeds `chunks` in order, then calls `finish`; returns all events.
fn parse_chunks(chunks: &[&[u8]]) -> (Vec<SseEvent>, u64) {
    let mut p = SseParser::new();
    let mut out = Vec::new();
    for c in chunks {
        p.push(c, &mut out);
    }
    p.finish(&mut out);
    (out, p.invalid_lines())
}

fn parse(bytes: &[u8]) -> Vec<SseEvent> {
    parse_chunks(&[bytes]).0
}

fn parse_bytewise(bytes: &[u8]) -> Vec<SseEvent> {
    let chunks: Vec<&[u8]> = bytes.chunks(1).collect();
    parse_chunks(&chunks).0
}

fn data(s: &str) -> SseEvent {
    SseEvent::Data(s.into())
}

#[test]
fn mlx_stream_whole() {
    let (events, invalid) = parse_chunks(&[MLX_STREAM.as_bytes()]);
    assert_eq!(events, expected_mlx());
    assert_eq!(invalid, 0);
}

#[test]
fn mlx_stream_events_complete_without_finish() {
    let mut p = SseParser::new();
    let mut out = Vec::new();
    p.push(MLX_STREAM.as_bytes(), &mut out);
    assert_eq!(out, expected_mlx());
    p.finish(&mut out);
    assert_eq!(out, expected_mlx());
}

#[test]
fn mlx_stream_one_byte_at_a_time() {
    assert_eq!(parse_bytewise(MLX_STREAM.as_bytes()), expected_mlx());
}

#[test]
fn mlx_stream_every_two_chunk_split() {
    let bytes = MLX_STREAM.as_bytes();
    for i in 0..=bytes.len() {
        let (a, b) = bytes.split_at(i);
        assert_eq!(parse_chunks(&[a, b]).0, expected_mlx(), "split at {i}");
    }
}

#[test]
fn mlx_stream_with_crlf_every_split() {
    let crlf = MLX_STREAM.replace('\n', "\r\n");
    let bytes = crlf.as_bytes();
    assert_eq!(parse(bytes), expected_mlx());
    assert_eq!(parse_bytewise(bytes), expected_mlx());
    for i in 0..=bytes.len() {
        let (a, b) = bytes.split_at(i);
        assert_eq!(parse_chunks(&[a, b]).0, expected_mlx(), "split at {i}");
    }
}

#[test]
fn mlx_stream_with_lone_cr() {
    let cr = MLX_STREAM.replace('\n', "\r");
    assert_eq!(parse(cr.as_bytes()), expected_mlx());
    assert_eq!(parse_bytewise(cr.as_bytes()), expected_mlx());
}

#[test]
fn crlf_split_across_chunks_is_one_line_ending() {
    // If the "\n" after a chunk-final "\r" were treated as a second line
    // ending, the event would be dispatched early and split in two.
    let (events, _) = parse_chunks(&[b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]);
    assert_eq!(events, vec![data("a\nb")]);
}

#[test]
fn cr_then_empty_chunk_then_lf() {
    let (events, _) = parse_chunks(&[b"data: a\r", b"", b"\ndata: b\r\n\r\n"]);
    assert_eq!(events, vec![data("a\nb")]);
}

#[test]
fn lone_cr_followed_by_other_text_across_chunks() {
    let (events, _) = parse_chunks(&[b"data: a\r", b"data: b\r", b"\r"]);
    assert_eq!(events, vec![data("a\nb")]);
}

#[test]
fn mixed_line_endings() {
    assert_eq!(
        parse(b"data: a\r\ndata: b\rdata: c\n\r\ndata: d\r\r"),
        vec![data("a\nb\nc"), data("d")]
    );
}

#[test]
fn multi_line_data_joined_with_newline() {
    assert_eq!(
        parse(b"data: line1\ndata: line2\ndata:\ndata: line4\n\n"),
        vec![data("line1\nline2\n\nline4")]
    );
}

#[test]
fn comment_lines() {
    assert_eq!(
        parse(b": keepalive 3/21\n:no-space\n:\n:  two spaces\n"),
        vec![
            SseEvent::Comment("keepalive 3/21".into()),
            SseEvent::Comment("no-space".into()),
            SseEvent::Comment(String::new()),
            SseEvent::Comment(" two spaces".into()),
        ]
    );
}

#[test]
fn comment_inside_event_does_not_dispatch() {
    assert_eq!(
        parse(b"data: a\n: ping\ndata: b\n\n"),
        vec![SseEvent::Comment("ping".into()), data("a\nb")]
    );
}

#[test]
fn data_with_and_without_space() {
    assert_eq!(
        parse(b"data:x\n\ndata: y\n\ndata:  z\n\ndata: a: b\n\n"),
        vec![data("x"), data("y"), data(" z"), data("a: b")]
    );
}

#[test]
fn data_without_colon_is_empty_data_line() {
    assert_eq!(parse(b"data\n\n"), vec![data("")]);
    assert_eq!(parse(b"data\ndata\n\n"), vec![data("\n")]);
    assert_eq!(parse(b"data: x\ndata\n\n"), vec![data("x\n")]);
}

#[test]
fn event_with_only_event_line_produces_nothing() {
    assert_eq!(parse(b"event: ping\n\n"), vec![]);
    assert_eq!(
        parse(b"event: ping\nid: 7\nretry: 100\nfoo: bar\nbaz\n\n"),
        vec![]
    );
    assert_eq!(parse(b"\n\n\n"), vec![]);
}

#[test]
fn ignored_fields_do_not_affect_data() {
    assert_eq!(
        parse(b"event: message\nid: 1\ndata: hi\nretry: 5\nDATA: no\ndata : no\n\n"),
        vec![data("hi")]
    );
}

#[test]
fn missing_final_blank_line_flushed_by_finish() {
    let mut p = SseParser::new();
    let mut out = Vec::new();
    p.push(b"data: a\n\ndata: [DONE]\n", &mut out);
    assert_eq!(out, vec![data("a")]);
    p.finish(&mut out);
    assert_eq!(out, vec![data("a"), data("[DONE]")]);
}

#[test]
fn unterminated_last_line_flushed_by_finish() {
    let mut p = SseParser::new();
    let mut out = Vec::new();
    p.push(b"data: x\ndata: [DO", &mut out);
    assert!(out.is_empty());
    p.push(b"NE]", &mut out);
    assert!(out.is_empty());
    p.finish(&mut out);
    assert_eq!(out, vec![data("x\n[DONE]")]);
    // Nothing more on a second finish.
    p.finish(&mut out);
    assert_eq!(out.len(), 1);
}

#[test]
fn finish_without_pending_event_produces_nothing() {
    let (events, _) = parse_chunks(&[b"data: a\n\n"]);
    assert_eq!(events, vec![data("a")]);
    assert_eq!(parse_chunks(&[]).0, vec![]);
    assert_eq!(parse(b"event: x"), vec![]);
}

#[test]
fn done_comes_through_as_data() {
    assert_eq!(parse(b"data: [DONE]\n\n"), vec![data("[DONE]")]);
}

#[test]
fn utf8_multibyte_split_across_chunks() {
    let text = "data: héllo → 世界 🎉\n\n";
    let bytes = text.as_bytes();
    for i in 0..=bytes.len() {
        let (a, b) = bytes.split_at(i);
        let (events, invalid) = parse_chunks(&[a, b]);
        assert_eq!(events, vec![data("héllo → 世界 🎉")], "split at {i}");
        assert_eq!(invalid, 0, "split at {i}");
    }
    assert_eq!(parse_bytewise(bytes), vec![data("héllo → 世界 🎉")]);
}

#[test]
fn bom_skipped() {
    let stream = b"\xEF\xBB\xBFdata: a\n\n";
    assert_eq!(parse(stream), vec![data("a")]);
    assert_eq!(parse_bytewise(stream), vec![data("a")]);
    for i in 0..=stream.len() {
        let (a, b) = stream.split_at(i);
        assert_eq!(parse_chunks(&[a, b]).0, vec![data("a")], "split at {i}");
    }
    // BOM followed by a comment line.
    assert_eq!(
        parse(b"\xEF\xBB\xBF: hi\n"),
        vec![SseEvent::Comment("hi".into())]
    );
}

#[test]
fn bom_only_skipped_at_stream_start() {
    let (events, invalid) = parse_chunks(&[b"data: a\n\n\xEF\xBB\xBFdata: b\n\n"]);
    // The second BOM is part of the field name, so that line is ignored.
    assert_eq!(events, vec![data("a")]);
    assert_eq!(invalid, 0);
}

#[test]
fn invalid_utf8_decoded_lossily_and_counted() {
    let (events, invalid) = parse_chunks(&[b"data: a\xFFb\n", b"data: ok\n\n: \xC3\n"]);
    assert_eq!(
        events,
        vec![data("a\u{FFFD}b\nok"), SseEvent::Comment("\u{FFFD}".into())]
    );
    assert_eq!(invalid, 2);
}

#[test]
fn many_events_reuse_parser() {
    let mut p = SseParser::new();
    let mut out = Vec::new();
    for n in 0..100 {
        p.push(format!("data: {n}\n\n").as_bytes(), &mut out);
    }
    p.finish(&mut out);
    let expected: Vec<SseEvent> = (0..100).map(|n| data(&n.to_string())).collect();
    assert_eq!(out, expected);
}
