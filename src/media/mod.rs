//! Media of multimodal requests, built before a point starts, never in
//! the timed path: synthetic and local images as data URLs ([`image`]),
//! synthetic and local WAV audio ([`audio`]), and the multipart body of an
//! OpenAI `/v1/audio/transcriptions` request ([`multipart`]). Their plain
//! types (modality, image size, seconds) are in `crate::spec::media`; the
//! media of one point is assembled by the run (`crate::run::media`).

pub mod audio;
pub mod image;
pub mod multipart;

use audio::Clip;

/// What a point's requests carry besides their prompt.
#[derive(Debug, Clone, PartialEq)]
pub enum PointMedia {
    /// Text requests (and vision points with no images).
    None,
    /// Data URLs per request; request `k` uses entry `k % len`.
    Images(Vec<Vec<String>>),
    /// One clip per request; request `k` uses entry `k % len`.
    Audio(Vec<Clip>),
}
