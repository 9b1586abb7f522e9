//! Media of multimodal requests (their plain types, such as the modality
//! and image sizes, are in `crate::spec::media`): synthetic and local images as data URLs ([`image`]), synthetic and local
//! WAV audio ([`audio`]), and the multipart body of an OpenAI
//! `/v1/audio/transcriptions` request ([`multipart`]), and the media of one
//! point ([`bodies`]). Everything here is
//! built before a point starts, never in the timed path.

pub mod audio;
pub mod image;
pub mod multipart;
