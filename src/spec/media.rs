//! The plain media types a scenario names: a point's [`Modality`], an
//! image size (`WxH`) and a duration in seconds, with how each reads from
//! TOML and from a matrix axis. The builders of the media themselves are
//! in `crate::media`.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::scenario::AxisElement;

/// What kind of input a point's requests carry (the predecessor's
/// `inference_modality`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Modality {
    /// Chat or completions with text only.
    #[default]
    Text,
    /// Chat whose user message carries images (`image_count` 0 = a
    /// text-only request to the vision model).
    Vision,
    /// `/v1/audio/transcriptions` with an audio file.
    Audio,
}

impl Modality {
    pub const ALL: [Modality; 3] = [Modality::Text, Modality::Vision, Modality::Audio];

    pub fn as_str(self) -> &'static str {
        match self {
            Modality::Text => "text",
            Modality::Vision => "vision",
            Modality::Audio => "audio",
        }
    }

    /// `text`, `vision` or `audio`.
    pub fn parse(s: &str) -> Option<Modality> {
        Modality::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

impl fmt::Display for Modality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An image size, written `WxH` (e.g. `512x512`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImageSize {
    pub width: u32,
    pub height: u32,
}

/// Largest side mlxrun draws (8192 px: 256 MB of RGB would be absurd for a
/// benchmark request anyway).
pub const MAX_IMAGE_SIDE: u32 = 8192;

impl ImageSize {
    pub fn parse(s: &str) -> Result<ImageSize, String> {
        let bad =
            || format!("'{s}' is not an image size; write it as WIDTHxHEIGHT, e.g. \"512x512\"");
        let (w, h) = s.trim().split_once(['x', 'X']).ok_or_else(bad)?;
        let w: u32 = w.trim().parse().map_err(|_| bad())?;
        let h: u32 = h.trim().parse().map_err(|_| bad())?;
        if w == 0 || h == 0 || w > MAX_IMAGE_SIDE || h > MAX_IMAGE_SIDE {
            return Err(format!(
                "'{s}': each side must be from 1 to {MAX_IMAGE_SIDE} pixels"
            ));
        }
        Ok(ImageSize {
            width: w,
            height: h,
        })
    }
}

impl fmt::Display for ImageSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

impl Serialize for ImageSize {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ImageSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ImageSize::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl AxisElement for ImageSize {
    fn from_text(s: &str) -> Result<Self, String> {
        ImageSize::parse(s)
    }
    fn from_i64(v: i64) -> Result<Self, String> {
        Err(format!(
            "{v} is not an image size; write it as WIDTHxHEIGHT, e.g. \"512x512\""
        ))
    }
    fn expecting() -> &'static str {
        "an image size \"WIDTHxHEIGHT\" or a list of them, e.g. [\"256x256\", \"1024x768\"]"
    }
}

/// Audio seconds, as an axis: a positive number (fractions allowed).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Seconds(pub f64);

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for Seconds {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.0)
    }
}

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        f64::deserialize(d).map(Seconds)
    }
}

impl AxisElement for Seconds {
    fn from_text(s: &str) -> Result<Self, String> {
        s.parse::<f64>()
            .map(Seconds)
            .map_err(|_| format!("'{s}' is not a number of seconds"))
    }
    fn from_i64(v: i64) -> Result<Self, String> {
        Ok(Seconds(v as f64))
    }
    fn from_float(v: f64) -> Result<Self, String> {
        Ok(Seconds(v))
    }
    fn expecting() -> &'static str {
        "seconds (a number), a list of them, or a string like \"5,60,660\""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_sizes_parse_and_print() {
        let s = ImageSize::parse("640x480").unwrap();
        assert_eq!((s.width, s.height), (640, 480));
        assert_eq!(s.to_string(), "640x480");
        assert_eq!(ImageSize::parse(" 32X16 ").unwrap().to_string(), "32x16");
        assert!(
            ImageSize::parse("640")
                .unwrap_err()
                .contains("WIDTHxHEIGHT")
        );
        assert!(ImageSize::parse("0x10").unwrap_err().contains("from 1"));
        assert!(ImageSize::parse("9000x10").is_err());
    }

    #[test]
    fn modality_names_round_trip() {
        for m in Modality::ALL {
            assert_eq!(Modality::parse(m.as_str()), Some(m));
        }
        assert_eq!(Modality::parse("video"), None);
    }
}
