//! Media of multimodal requests, built before a point starts, never in
//! the timed path: synthetic and local images as data URLs ([`image`]),
//! synthetic and local WAV audio ([`audio`]), and the multipart body of an
//! OpenAI `/v1/audio/transcriptions` request ([`multipart`]). Their plain
//! types (modality, image size, seconds) are in `crate::spec::media`; the
//! media of one point is assembled by the run (`crate::run::media`).

pub mod audio;
pub mod image;
pub mod multipart;
