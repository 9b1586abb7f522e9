//! The one place a request is made: the body (JSON for the chat and
//! completions APIs, a multipart form for transcriptions), the media it
//! carries and its content type, for every caller alike: a point's load,
//! its warmup, the readiness probe (and so `mlxrun serve status`, which
//! repeats the probe it saved) and `mlxrun calibrate`. A warmup can
//! therefore send exactly what a point sends.

use bytes::Bytes;
use reqwest::header::HeaderValue;

use super::client::{BodySpec, FormSpec, request_body};
use crate::media::PointMedia;
use crate::media::image::attach_images;
use crate::media::multipart::{TranscriptionFields, transcription_bodies};
use crate::spec::backend::Api;
use crate::spec::scenario::Sampling;
use crate::workload::Prompt;

/// The content type of a JSON body.
pub const JSON: &str = "application/json";

/// What the requests of one batch (a point, a warmup, a probe) carry.
#[derive(Debug, Clone, Copy)]
pub struct RequestShape<'a> {
    /// The backend's name, for messages.
    pub backend: &'a str,
    pub api: Api,
    /// The `model` field; `None` leaves it out (the server's own model).
    pub model: Option<&'a str>,
    /// The prompts; request `k` uses prompt `k % len`.
    pub prompts: &'a [Prompt],
    pub max_tokens: u32,
    /// `temperature`, and `top_p` and `seed` when set (a transcription
    /// form carries the temperature alone, as the OpenAI API has it).
    pub sampling: Sampling,
    pub stream: bool,
    /// Images or audio clips of the requests.
    pub media: &'a PointMedia,
    /// `language` of a transcription form (empty: not sent).
    pub audio_language: &'a str,
    /// `response_format` of a transcription form.
    pub audio_response_format: &'a str,
}

/// The bodies of a batch, and the form they are when they are forms.
#[derive(Debug, Clone)]
pub struct Requests {
    /// One body per distinct request; request `k` sends `bodies[k % len]`.
    pub bodies: Vec<Bytes>,
    /// `Some` for transcription forms (their content type and audio).
    pub form: Option<FormSpec>,
}

impl Requests {
    /// The content type every body is sent with.
    pub fn content_type(&self) -> String {
        self.form.as_ref().map_or(JSON.to_string(), |f| {
            f.content_type.to_str().unwrap_or(JSON).to_string()
        })
    }
}

/// Make the requests of `shape`. Fails when audio goes to a backend that
/// does not transcribe.
pub fn build(shape: &RequestShape<'_>) -> Result<Requests, String> {
    let json = |prompt: &Prompt, messages: &serde_json::Value| {
        request_body(&BodySpec {
            api: shape.api,
            prompt: &prompt.text,
            max_tokens: shape.max_tokens,
            sampling: shape.sampling,
            stream: shape.stream,
            model: shape.model,
            messages: Some(messages),
        })
    };
    let prompts = shape.prompts;
    Ok(match shape.media {
        PointMedia::None => Requests {
            bodies: prompts.iter().map(|p| json(p, &p.messages)).collect(),
            form: None,
        },
        PointMedia::Images(urls) => Requests {
            bodies: (0..urls.len().min(prompts.len()).max(1))
                .filter_map(|k| {
                    let p = prompts.get(k % prompts.len().max(1))?;
                    let m = attach_images(&p.messages, &urls[k % urls.len()]);
                    Some(json(p, &m))
                })
                .collect(),
            form: None,
        },
        PointMedia::Audio(clips) => {
            if shape.api != Api::Transcriptions {
                return Err(format!(
                    "backend `{}` does not transcribe (api = \"transcriptions\")",
                    shape.backend
                ));
            }
            let fields = TranscriptionFields {
                model: shape.model.map(str::to_string),
                language: shape.audio_language.to_string(),
                response_format: shape.audio_response_format.to_string(),
                temperature: shape.sampling.temperature,
            };
            let (content_type, bodies) = transcription_bodies(clips, &fields);
            Requests {
                bodies,
                form: Some(FormSpec {
                    content_type: HeaderValue::from_str(&content_type)
                        .map_err(|e| format!("multipart content type: {e}"))?,
                    audio_seconds: clips.iter().map(|c| c.seconds).collect(),
                    response_format: fields.response_format,
                }),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::audio::synthetic_clip;

    fn shape<'a>(api: Api, prompts: &'a [Prompt], media: &'a PointMedia) -> RequestShape<'a> {
        RequestShape {
            backend: "b",
            api,
            model: Some("m"),
            prompts,
            max_tokens: 8,
            sampling: Sampling::GREEDY,
            stream: true,
            media,
            audio_language: "en",
            audio_response_format: "json",
        }
    }

    #[test]
    fn chat_bodies_carry_each_prompt_and_json() {
        let prompts = [
            Prompt::user("a".into(), None),
            Prompt::user("b".into(), None),
        ];
        let r = build(&shape(Api::Chat, &prompts, &PointMedia::None)).unwrap();
        assert_eq!(r.bodies.len(), 2);
        assert_eq!(r.content_type(), JSON);
        let v: serde_json::Value = serde_json::from_slice(&r.bodies[1]).unwrap();
        assert_eq!(v["messages"][0]["content"], "b");
        assert_eq!(v["model"], "m");
        assert_eq!(v["max_tokens"], 8);
        assert_eq!(v["stream_options"]["include_usage"], true);
    }

    #[test]
    fn bodies_carry_the_sampling_and_leave_unset_fields_out() {
        let prompts = [Prompt::user("a".into(), None)];
        let mut sh = shape(Api::Chat, &prompts, &PointMedia::None);
        sh.sampling = Sampling {
            temperature: 0.7,
            top_p: Some(0.9),
            seed: Some(42),
        };
        let r = build(&sh).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&r.bodies[0]).unwrap();
        assert_eq!(v["temperature"], 0.7);
        assert_eq!(v["top_p"], 0.9);
        assert_eq!(v["seed"], 42);
        sh.sampling = Sampling {
            temperature: 0.3,
            top_p: None,
            seed: None,
        };
        let v: serde_json::Value = serde_json::from_slice(&build(&sh).unwrap().bodies[0]).unwrap();
        assert_eq!(v["temperature"], 0.3);
        assert!(v.get("top_p").is_none(), "{v}");
        assert!(v.get("seed").is_none(), "{v}");
        // the completions API carries them too
        sh.api = Api::Completions;
        sh.sampling.seed = Some(5);
        let v: serde_json::Value = serde_json::from_slice(&build(&sh).unwrap().bodies[0]).unwrap();
        assert_eq!(
            (v["prompt"].as_str(), v["seed"].as_u64()),
            (Some("a"), Some(5))
        );
    }

    #[test]
    fn transcription_forms_carry_the_temperature() {
        let prompts = [Prompt::user("x".into(), None)];
        let media = PointMedia::Audio(vec![synthetic_clip(1.0, 0)]);
        let mut sh = shape(Api::Transcriptions, &prompts, &media);
        sh.sampling.temperature = 0.4;
        sh.sampling.seed = Some(9);
        let r = build(&sh).unwrap();
        let body = &r.bodies[0];
        let text = String::from_utf8_lossy(body);
        assert!(
            text.contains("name=\"temperature\"\r\n\r\n0.4\r\n"),
            "{}",
            &text[..text.len().min(600)]
        );
        assert!(!text.contains("name=\"seed\""));
    }

    #[test]
    fn images_are_attached_per_request() {
        let prompts = [Prompt::user("look".into(), None)];
        let media = PointMedia::Images(vec![
            vec!["data:image/png;base64,AA".into()],
            vec!["data:image/png;base64,BB".into()],
        ]);
        let r = build(&shape(Api::Chat, &prompts, &media)).unwrap();
        assert_eq!(r.bodies.len(), 1, "one prompt: one distinct body");
        let text = String::from_utf8_lossy(&r.bodies[0]);
        assert!(text.contains("base64,AA"), "{text}");
    }

    #[test]
    fn audio_makes_forms_and_only_for_a_transcribing_backend() {
        let prompts = [Prompt::user("x".into(), None)];
        let media = PointMedia::Audio(vec![synthetic_clip(1.0, 0)]);
        let r = build(&shape(Api::Transcriptions, &prompts, &media)).unwrap();
        assert!(
            r.content_type()
                .starts_with("multipart/form-data; boundary=")
        );
        let form = r.form.as_ref().unwrap();
        assert_eq!(form.audio_seconds, [1.0]);
        assert_eq!(form.response_format, "json");
        let e = build(&shape(Api::Chat, &prompts, &media)).unwrap_err();
        assert_eq!(
            e,
            "backend `b` does not transcribe (api = \"transcriptions\")"
        );
    }
}
