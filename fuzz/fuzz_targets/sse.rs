//! Fuzz target `sse`: arbitrary bytes as a streamed response body.
//!
//! The input is the body as the network would deliver it. It is parsed by
//! `SseParser` whole, one byte at a time, cut right after every CR, and cut
//! into pieces of 1..=64 bytes whose lengths come from a PRNG seeded by the
//! input (so every mutation also moves the cuts). Invariants:
//!
//! 1. every way of cutting yields the same events and the same count of
//!    invalid lines as the whole input;
//! 2. for every data payload (and for the whole input, when it is UTF-8, so
//!    JSON mutations reach the chunk reader without SSE framing): where
//!    `quick_scan` answers, serde (`parse_chunk`) answers too, and exactly
//!    the same; `read_chunk` is that answer, or serde's.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mlxrun::load::chunk::{parse_chunk, quick_scan, read_chunk};
use mlxrun::load::sse::{SseEvent, SseParser};

fn parse(pieces: &[&[u8]]) -> (Vec<SseEvent>, u64) {
    let mut p = SseParser::new();
    let mut out = Vec::new();
    for piece in pieces {
        p.push(piece, &mut out);
    }
    p.finish(&mut out);
    (out, p.invalid_lines())
}

/// FNV-1a, to seed the cuts from the input.
fn seed(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Pieces of 1..=64 bytes, lengths from xorshift64 seeded by the input.
fn random_pieces(data: &[u8]) -> Vec<&[u8]> {
    let mut x = seed(data) | 1;
    let mut pieces = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let n = ((x % 64) as usize + 1).min(rest.len());
        let (a, b) = rest.split_at(n);
        pieces.push(a);
        rest = b;
    }
    pieces
}

/// Cut right after every '\r' (between a CR and its LF in a CRLF).
fn after_cr(data: &[u8]) -> Vec<&[u8]> {
    data.split_inclusive(|&b| b == b'\r').collect()
}

fn check_payload(d: &str) {
    let slow = parse_chunk(d);
    let read = read_chunk(d);
    match quick_scan(d) {
        Some(q) => {
            assert_eq!(slow, Ok(q), "quick scan vs serde: {d:?}");
            assert_eq!(read, Ok(q), "read_chunk takes the quick answer: {d:?}");
        }
        None => assert_eq!(read, slow, "read_chunk falls back to serde: {d:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let whole = parse(&[data]);
    let bytewise: Vec<&[u8]> = data.chunks(1).collect();
    assert_eq!(parse(&bytewise), whole, "one byte at a time");
    assert_eq!(parse(&after_cr(data)), whole, "cut after every CR");
    assert_eq!(parse(&random_pieces(data)), whole, "random pieces");

    for event in &whole.0 {
        if let SseEvent::Data(d) = event
            && d.trim() != "[DONE]"
        {
            check_payload(d);
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        check_payload(text);
    }
});
