//! `POST /v1/audio/transcriptions` of the stub: reads the multipart form
//! (`file` required; `response_format` json, text or verbose_json; other
//! fields ignored), takes the audio's duration from its WAV header, and
//! answers after `duration / --audio-rtf` seconds (at once with
//! `--audio-rtf 0`) with two words per audio second: `{"text": ...}`, the
//! bare text, or verbose_json with `duration` and one segment per 10 s.

use std::fmt::Write;

use bytes::Bytes;

use crate::media::{audio, multipart};

/// A transcription request the stub can answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcription {
    /// Seconds of audio in the file.
    pub seconds: f64,
    pub response_format: String,
    pub language: String,
}

/// Read the form; the error text is meant for the client (answered 400).
pub fn parse(content_type: &str, body: &Bytes) -> Result<Transcription, String> {
    let boundary = multipart::boundary_of(content_type).ok_or_else(|| {
        format!(
            "expected a multipart/form-data body with a boundary, got content-type '{content_type}'"
        )
    })?;
    let parts =
        multipart::parse(body, &boundary).map_err(|e| format!("bad multipart body: {e}"))?;
    let field = |name: &str| {
        parts
            .iter()
            .find(|p| p.name == name)
            .map(|p| String::from_utf8_lossy(&p.data).into_owned())
    };
    let file = parts
        .iter()
        .find(|p| p.name == "file")
        .ok_or("the form has no `file` part")?;
    let seconds = audio::wav_seconds(&file.data).map_err(|e| format!("`file`: {e}"))?;
    let response_format = field("response_format").unwrap_or_else(|| "json".into());
    if !matches!(response_format.as_str(), "json" | "text" | "verbose_json") {
        return Err(format!(
            "response_format '{response_format}' is not supported (json, text, verbose_json)"
        ));
    }
    Ok(Transcription {
        seconds,
        response_format,
        language: field("language").unwrap_or_else(|| "en".into()),
    })
}

/// Words of the stub's transcript of `seconds` of audio.
pub fn words(seconds: f64) -> usize {
    (seconds * 2.0).ceil() as usize
}

/// The answer body and its content type.
pub fn answer(t: &Transcription) -> (&'static str, Bytes) {
    let n = words(t.seconds);
    let text = super::render::TOKEN.repeat(n).trim_end().to_string();
    match t.response_format.as_str() {
        "text" => ("text/plain; charset=utf-8", Bytes::from(text)),
        "verbose_json" => {
            let mut segments = String::new();
            let mut start = 0.0;
            let mut id = 0;
            while start < t.seconds || id == 0 {
                let end = (start + 10.0).min(t.seconds);
                let seg_words = words(end - start).max(1);
                let seg_text = super::render::TOKEN.repeat(seg_words);
                if id > 0 {
                    segments.push(',');
                }
                let _ = write!(
                    segments,
                    "{{\"id\":{id},\"start\":{start},\"end\":{end},\"text\":\"{}\"}}",
                    seg_text.trim_end()
                );
                id += 1;
                start = end;
                if end >= t.seconds {
                    break;
                }
            }
            let lang = serde_json::to_string(&t.language).unwrap_or_else(|_| "\"en\"".into());
            (
                "application/json",
                Bytes::from(format!(
                    "{{\"task\":\"transcribe\",\"language\":{lang},\"duration\":{},\"text\":\"{text}\",\"segments\":[{segments}]}}",
                    t.seconds
                )),
            )
        }
        _ => (
            "application/json",
            Bytes::from(format!("{{\"text\":\"{text}\"}}")),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::multipart::{TranscriptionFields, transcription_body};

    fn form(seconds: f64, format: &str) -> (String, Bytes) {
        transcription_body(
            &audio::synthetic_clip(seconds, 1),
            &TranscriptionFields {
                model: None,
                language: "de".into(),
                response_format: format.into(),
                temperature: 0.0,
            },
        )
    }

    #[test]
    fn reads_duration_and_format_from_the_form() {
        let (ct, body) = form(2.5, "verbose_json");
        let t = parse(&ct, &body).unwrap();
        assert_eq!(t.seconds, 2.5);
        assert_eq!(
            (t.response_format.as_str(), t.language.as_str()),
            ("verbose_json", "de")
        );
        let (kind, out) = answer(&t);
        assert_eq!(kind, "application/json");
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["duration"], 2.5);
        assert_eq!(v["text"].as_str().unwrap().split_whitespace().count(), 5);
        assert_eq!(v["segments"].as_array().unwrap().len(), 1);
        assert_eq!(v["language"], "de");
    }

    #[test]
    fn every_format_answers_and_bad_forms_are_refused() {
        let (ct, body) = form(25.0, "text");
        let (kind, out) = answer(&parse(&ct, &body).unwrap());
        assert!(kind.starts_with("text/plain"));
        assert_eq!(std::str::from_utf8(&out).unwrap().split(' ').count(), 50);
        let (ct, body) = form(25.0, "verbose_json");
        let v: serde_json::Value =
            serde_json::from_slice(&answer(&parse(&ct, &body).unwrap()).1).unwrap();
        assert_eq!(v["segments"].as_array().unwrap().len(), 3);
        assert_eq!(v["segments"][2]["end"], 25.0);
        let (ct, body) = form(1.0, "srt");
        assert!(parse(&ct, &body).unwrap_err().contains("srt"));
        assert!(
            parse("application/json", &body)
                .unwrap_err()
                .contains("multipart")
        );
        let bad = Bytes::from_static(
            b"--b\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nm\r\n--b--\r\n",
        );
        assert!(
            parse("multipart/form-data; boundary=b", &bad)
                .unwrap_err()
                .contains("no `file`")
        );
    }
}
