//! The media settings of a scenario: the values of the image and audio
//! axes and workload keys, and whether they mean something for its models:
//! `matrix.image_count`, `matrix.image_size` and `workload.image_files` need
//! a vision model; `matrix.audio_duration_s` and `workload.audio_dir` an
//! audio model. Meaningless combinations are refused, not silently
//! dropped; local media paths are made absolute and checked before a run.

use std::path::Path;

use super::error::{Finding, finding, no_values};
use super::models::ResolvedModel;
use crate::media::{audio, image};
use crate::spec::media::Modality;
use crate::spec::scenario::Scenario;

/// Most images one request may carry.
pub const MAX_IMAGE_COUNT: u32 = 64;
/// Longest synthetic audio clip, in seconds (4 h: 460 MB of WAV).
pub const MAX_AUDIO_S: f64 = 4.0 * 3600.0;

/// Checks of the media values alone.
pub fn media_findings(out: &mut Vec<Finding>, s: &Scenario) {
    let m = &s.matrix;
    if let Some(a) = &m.image_count {
        no_values(
            out,
            "matrix.image_count",
            a.values().is_empty(),
            "list image counts, e.g. [0, 1, 4]",
        );
        if let Some(n) = a.values().iter().find(|&&n| n > MAX_IMAGE_COUNT) {
            out.push(finding(
                "matrix.image_count",
                format!("{n} images per request is more than {MAX_IMAGE_COUNT}"),
                format!("use counts from 0 (text-only) to {MAX_IMAGE_COUNT}"),
            ));
        }
    }
    if let Some(a) = &m.image_size {
        no_values(
            out,
            "matrix.image_size",
            a.values().is_empty(),
            "list sizes, e.g. [\"256x256\", \"1024x768\"]",
        );
    }
    if let Some(a) = &m.audio_duration_s {
        no_values(
            out,
            "matrix.audio_duration_s",
            a.values().is_empty(),
            "list seconds, e.g. [5, 60, 660]",
        );
        if let Some(d) = a
            .values()
            .iter()
            .find(|d| !(d.0 > 0.0 && d.0 <= MAX_AUDIO_S))
        {
            out.push(finding(
                "matrix.audio_duration_s",
                format!("{d} s is not a clip length mlxrun makes"),
                format!("use seconds above 0 and at most {MAX_AUDIO_S} (4 hours)"),
            ));
        }
    }
    if image::ImageFormat::parse(&s.workload.image_format).is_none() {
        out.push(finding(
            "workload.image_format",
            format!(
                "'{}' is not an image format mlxrun draws",
                s.workload.image_format
            ),
            "use png or jpeg",
        ));
    }
    if !matches!(
        s.workload.audio_response_format.as_str(),
        "json" | "text" | "verbose_json"
    ) {
        out.push(finding(
            "workload.audio_response_format",
            format!(
                "'{}' is not a response format mlxrun reads",
                s.workload.audio_response_format
            ),
            "use json, text or verbose_json",
        ));
    }
    if !s.workload.image_files.trim().is_empty() && m.image_size.is_some() {
        out.push(finding(
            "matrix.image_size",
            "image_size does not apply to workload.image_files (the files keep their own size)",
            "remove matrix.image_size, or workload.image_files to send synthetic images",
        ));
    }
    if !s.workload.audio_dir.trim().is_empty() && m.audio_duration_s.is_some() {
        out.push(finding(
            "matrix.audio_duration_s",
            "audio_duration_s does not apply to workload.audio_dir (the files keep their own length)",
            "remove matrix.audio_duration_s, or workload.audio_dir to send synthetic audio",
        ));
    }
}

/// The models as `name (modality)`, for messages.
fn model_list(models: &[ResolvedModel]) -> String {
    models
        .iter()
        .map(|m| format!("{} ({})", m.name, m.modality))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Media settings that need a model of some modality none of `models` has.
pub fn model_findings(s: &Scenario, models: &[ResolvedModel]) -> Vec<Finding> {
    let has = |m: Modality| models.iter().any(|x| x.modality == m);
    let mut out = Vec::new();
    let vision_keys = [
        ("matrix.image_count", s.matrix.image_count.is_some()),
        ("matrix.image_size", s.matrix.image_size.is_some()),
        (
            "workload.image_files",
            !s.workload.image_files.trim().is_empty(),
        ),
    ];
    let audio_keys = [
        (
            "matrix.audio_duration_s",
            s.matrix.audio_duration_s.is_some(),
        ),
        (
            "workload.audio_dir",
            !s.workload.audio_dir.trim().is_empty(),
        ),
    ];
    for (keys, modality, how) in [
        (
            &vision_keys[..],
            Modality::Vision,
            "serve a vision model (config.json with vision_config) with backend = \"mlx_vlm\" or \"auto\", or set modality = \"vision\" on its [[models]] entry",
        ),
        (
            &audio_keys[..],
            Modality::Audio,
            "serve a speech model with a transcription backend (backend = \"mlx_audio\" or \"auto\")",
        ),
    ] {
        if has(modality) {
            continue;
        }
        for (field, set) in keys {
            if *set {
                out.push(finding(
                    field,
                    format!(
                        "applies to {modality} models only, and no model of this scenario is one: {}",
                        model_list(models)
                    ),
                    format!("{how}; or remove {field}"),
                ));
            }
        }
    }
    out
}

/// Make `workload.image_files` and `workload.audio_dir` absolute (relative
/// to `base`, the scenario's folder) and check that they name media.
pub fn resolve_media(s: &mut Scenario, base: &Path) -> Vec<Finding> {
    let mut out = Vec::new();
    let w = &mut s.workload;
    if !w.image_files.trim().is_empty() {
        let p = super::prompts::absolute(&base.join(w.image_files.trim()));
        match image::list_files(&p) {
            Ok(_) => w.image_files = p.display().to_string(),
            Err(e) => out.push(finding(
                "workload.image_files",
                e,
                "name an image file, a folder of images, or a glob such as photos/*.jpg (relative to the scenario file)",
            )),
        }
    }
    if !w.audio_dir.trim().is_empty() {
        let p = super::prompts::absolute(&base.join(w.audio_dir.trim()));
        let checked = audio::folder_files(&p).and_then(|files| {
            files
                .iter()
                .try_for_each(|f| audio::file_clip(f).map(|_| ()))
        });
        match checked {
            Ok(()) => w.audio_dir = p.display().to_string(),
            Err(e) => out.push(finding(
                "workload.audio_dir",
                e,
                "name a folder of .wav files (relative to the scenario file), or leave it out for synthetic audio",
            )),
        }
    }
    out
}
