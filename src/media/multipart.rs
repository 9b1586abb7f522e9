//! `multipart/form-data` (RFC 7578) for `/v1/audio/transcriptions`: the
//! body is built whole, before a point starts, so a request sends prebuilt
//! bytes like every other request (reqwest's streaming `Form` is neither
//! `Clone` nor reusable across retries); and a small parser the stub server
//! uses to read it back.

use bytes::Bytes;

use super::audio::Clip;

/// The boundary of mlxrun's forms. A body that happens to contain it gets
/// another one (see [`transcription_body`]).
const BOUNDARY: &str = "mlxrun-form-7f3a9c1e5b";

/// The form fields of a transcription request besides the file.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscriptionFields {
    /// `model`; `None` = not sent.
    pub model: Option<String>,
    /// `language` (ISO-639-1); empty = not sent (the server detects it).
    pub language: String,
    /// `response_format`: json, text or verbose_json.
    pub response_format: String,
    pub temperature: f64,
}

/// The multipart body and its content type for `clip` with `fields`.
pub fn transcription_body(clip: &Clip, f: &TranscriptionFields) -> (String, Bytes) {
    let (content_type, mut bodies) = transcription_bodies(std::slice::from_ref(clip), f);
    (content_type, bodies.remove(0))
}

/// The bodies of a point's `clips` and their one content type: the
/// boundary is one that none of the clips contains, so every body goes
/// with the same header.
pub fn transcription_bodies(clips: &[Clip], f: &TranscriptionFields) -> (String, Vec<Bytes>) {
    let mut boundary = BOUNDARY.to_string();
    while clips
        .iter()
        .any(|c| memchr::memmem::find(&c.bytes, boundary.as_bytes()).is_some())
    {
        boundary.push('x');
    }
    let bodies = clips.iter().map(|c| body(c, f, &boundary)).collect();
    (format!("multipart/form-data; boundary={boundary}"), bodies)
}

/// One form: the fields, then the file, between `boundary` lines.
fn body(clip: &Clip, f: &TranscriptionFields, boundary: &str) -> Bytes {
    let mut out: Vec<u8> = Vec::with_capacity(clip.bytes.len() + 1024);
    let mut field = |name: &str, value: &str| {
        out.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    };
    if let Some(m) = &f.model {
        field("model", m);
    }
    if !f.language.is_empty() {
        field("language", &f.language);
    }
    field("response_format", &f.response_format);
    field("temperature", &f.temperature.to_string());
    let name = clip.name.replace(['"', '\r', '\n'], "_");
    out.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: audio/wav\r\n\r\n"
        )
        .as_bytes(),
    );
    out.extend_from_slice(&clip.bytes);
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    Bytes::from(out)
}

/// One part of a parsed form.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub data: Bytes,
}

/// The boundary of a `multipart/form-data` content type.
pub fn boundary_of(content_type: &str) -> Option<String> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

/// The parts of a `multipart/form-data` body with `boundary`.
pub fn parse(body: &Bytes, boundary: &str) -> Result<Vec<Part>, String> {
    let delim = format!("--{boundary}");
    let finder = memchr::memmem::Finder::new(delim.as_bytes());
    let mut pos = finder.find(body).ok_or("no boundary in the body")? + delim.len();
    let mut parts = Vec::new();
    loop {
        if body[pos..].starts_with(b"--") {
            return Ok(parts);
        }
        if !body[pos..].starts_with(b"\r\n") {
            return Err("a boundary is not followed by CRLF".into());
        }
        pos += 2;
        let head_end = memchr::memmem::find(&body[pos..], b"\r\n\r\n")
            .ok_or("a part has no blank line after its headers")?;
        let head = std::str::from_utf8(&body[pos..pos + head_end])
            .map_err(|_| "part headers are not UTF-8")?;
        let data_start = pos + head_end + 4;
        let next = finder
            .find(&body[data_start..])
            .ok_or("the body does not end with the closing boundary")?;
        let data_end = data_start + next;
        if data_end < data_start + 2 || &body[data_end - 2..data_end] != b"\r\n" {
            return Err("a part's data is not followed by CRLF".into());
        }
        let (mut name, mut filename) = (None, None);
        for line in head.split("\r\n") {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            if !k.trim().eq_ignore_ascii_case("content-disposition") {
                continue;
            }
            for p in v.split(';').skip(1) {
                if let Some((pk, pv)) = p.split_once('=') {
                    let pv = pv.trim().trim_matches('"').to_string();
                    match pk.trim() {
                        "name" => name = Some(pv),
                        "filename" => filename = Some(pv),
                        _ => {}
                    }
                }
            }
        }
        parts.push(Part {
            name: name.ok_or("a part has no name")?,
            filename,
            data: body.slice(data_start..data_end - 2),
        });
        pos = data_end + delim.len();
        if pos > body.len() {
            return Err("the body ends inside a boundary".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> TranscriptionFields {
        TranscriptionFields {
            model: Some("m".into()),
            language: "en".into(),
            response_format: "verbose_json".into(),
            temperature: 0.0,
        }
    }

    #[test]
    fn body_round_trips_through_the_parser() {
        let clip = super::super::audio::synthetic_clip(0.1, 3);
        let (ct, body) = transcription_body(&clip, &fields());
        let b = boundary_of(&ct).unwrap();
        assert_eq!(b, BOUNDARY);
        let parts = parse(&body, &b).unwrap();
        let names: Vec<&str> = parts.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "model",
                "language",
                "response_format",
                "temperature",
                "file"
            ]
        );
        assert_eq!(&parts[2].data[..], b"verbose_json");
        assert_eq!(&parts[3].data[..], b"0");
        assert_eq!(parts[4].filename.as_deref(), Some("synthetic-3.wav"));
        assert_eq!(&parts[4].data[..], &clip.bytes[..]);
        assert!(body.ends_with(format!("--{BOUNDARY}--\r\n").as_bytes()));
    }

    #[test]
    fn fields_left_out_are_not_sent_and_boundaries_never_collide() {
        let mut f = fields();
        f.model = None;
        f.language = String::new();
        let clip = Clip {
            name: "a\".wav".into(),
            bytes: format!("xx--{BOUNDARY}yy").into_bytes(),
            seconds: 1.0,
        };
        let (ct, body) = transcription_body(&clip, &f);
        let b = boundary_of(&ct).unwrap();
        assert_ne!(b, BOUNDARY);
        let parts = parse(&body, &b).unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[2].filename.as_deref(), Some("a_.wav"));
        assert_eq!(&parts[2].data[..], &clip.bytes[..]);
    }

    /// One clip holding the usual boundary moves the boundary of every
    /// body of the point, since they all go with one content type.
    #[test]
    fn the_bodies_of_a_point_share_a_boundary_none_of_them_contains() {
        let plain = super::super::audio::synthetic_clip(0.1, 1);
        let tricky = Clip {
            name: "b.wav".into(),
            bytes: format!("--{BOUNDARY}").into_bytes(),
            seconds: 1.0,
        };
        let (ct, bodies) = transcription_bodies(&[plain.clone(), tricky.clone()], &fields());
        let b = boundary_of(&ct).unwrap();
        assert_ne!(b, BOUNDARY);
        for (body, clip) in bodies.iter().zip([&plain, &tricky]) {
            let parts = parse(body, &b).unwrap();
            assert_eq!(&parts[4].data[..], &clip.bytes[..]);
        }
    }

    #[test]
    fn broken_bodies_are_errors() {
        assert!(parse(&Bytes::from_static(b"junk"), "b").is_err());
        assert!(
            parse(
                &Bytes::from_static(b"--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nv"),
                "b"
            )
            .is_err()
        );
        assert_eq!(boundary_of("application/json"), None);
        assert_eq!(
            boundary_of("multipart/form-data; boundary=\"q\"").as_deref(),
            Some("q")
        );
    }
}
