//! Images for vision requests: synthetic PNG or JPEG pictures of a given
//! size, different for every seed (a gradient, a few rectangles and noise,
//! so no server-side image cache can help and the encoded size is close to a
//! photo's), and local image files, both as `data:` URLs; and the OpenAI
//! content parts that carry them in a chat message.

use std::path::{Path, PathBuf};

use base64::Engine;
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use serde_json::{Value, json};

use crate::spec::media::ImageSize;

/// Encoding of synthetic images.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ImageFormat {
    #[default]
    Png,
    Jpeg,
}

impl ImageFormat {
    pub fn parse(s: &str) -> Option<ImageFormat> {
        match s {
            "png" => Some(ImageFormat::Png),
            "jpeg" | "jpg" => Some(ImageFormat::Jpeg),
            _ => None,
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            ImageFormat::Png => "image/png",
            ImageFormat::Jpeg => "image/jpeg",
        }
    }
}

/// RGB pixels (row-major, 3 bytes each) of the synthetic picture for `seed`.
pub fn synthetic_pixels(size: ImageSize, seed: u64) -> Vec<u8> {
    let (w, h) = (size.width as usize, size.height as usize);
    let mut rng = StdRng::seed_from_u64(seed ^ 0x1a6e_5eed_0f1a_6e5e);
    let base: [u8; 3] = rng.random();
    let mut px = vec![0u8; w * h * 3];
    rng.fill_bytes(&mut px);
    // noise of ±16 around a diagonal gradient
    for y in 0..h {
        for x in 0..w {
            let i = (y * w + x) * 3;
            let g = ((x * 255 / w.max(1)) + (y * 255 / h.max(1))) / 2;
            for c in 0..3 {
                let v = (base[c] as usize + g * (c + 1)) % 256;
                px[i + c] = (v as i32 + (px[i + c] as i32 % 33) - 16).clamp(0, 255) as u8;
            }
        }
    }
    for _ in 0..6 {
        let (x0, y0) = (rng.random_range(0..w), rng.random_range(0..h));
        let (x1, y1) = (
            rng.random_range(x0..=w.min(x0 + w / 2 + 1)),
            rng.random_range(y0..=h.min(y0 + h / 2 + 1)),
        );
        let color: [u8; 3] = rng.random();
        for y in y0..y1.min(h) {
            for x in x0..x1.min(w) {
                let i = (y * w + x) * 3;
                px[i..i + 3].copy_from_slice(&color);
            }
        }
    }
    px
}

/// The synthetic picture for `seed`, encoded.
pub fn synthetic_image(size: ImageSize, seed: u64, format: ImageFormat) -> Vec<u8> {
    let px = synthetic_pixels(size, seed);
    match format {
        ImageFormat::Png => encode_png(size, &px),
        ImageFormat::Jpeg => encode_jpeg(size, &px),
    }
}

fn encode_png(size: ImageSize, px: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(px.len() / 2);
    {
        let mut enc = png::Encoder::new(&mut out, size.width, size.height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Fast);
        // writing to a Vec of the right size cannot fail
        let mut writer = enc.write_header().expect("png header to memory");
        writer.write_image_data(px).expect("png data to memory");
    }
    out
}

fn encode_jpeg(size: ImageSize, px: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let enc = jpeg_encoder::Encoder::new(&mut out, 90);
    // sizes are at most MAX_IMAGE_SIDE (8192) < u16::MAX
    enc.encode(
        px,
        size.width as u16,
        size.height as u16,
        jpeg_encoder::ColorType::Rgb,
    )
    .expect("jpeg to memory");
    out
}

/// `data:<mime>;base64,<bytes>`.
pub fn data_url(mime: &str, bytes: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    format!("data:{mime};base64,{b64}")
}

/// The mime type of a local image, by its first bytes (the extension can
/// lie); `None` when it is not PNG, JPEG, GIF or WebP.
pub fn sniff_mime(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// Width and height of a PNG, from its IHDR chunk.
pub fn png_size(bytes: &[u8]) -> Option<ImageSize> {
    if bytes.len() < 24 || !bytes.starts_with(b"\x89PNG\r\n\x1a\n") || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let be = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    Some(ImageSize {
        width: be(16),
        height: be(20),
    })
}

/// A local image file as a data URL; errors name the file and say why.
pub fn file_data_url(path: &Path) -> Result<String, String> {
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read image {}: {e}", path.display()))?;
    let mime = sniff_mime(&bytes).ok_or_else(|| {
        format!(
            "{} is not a PNG, JPEG, GIF or WebP image (by its first bytes)",
            path.display()
        )
    })?;
    Ok(data_url(mime, &bytes))
}

/// Extensions of the image files a folder or glob picks up.
const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "gif", "webp"];

/// Whether `name` matches `pattern`, where `*` is any run of characters
/// and `?` one character.
pub fn wildcard(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// The image files `spec` names: a file, a folder (its image files), or a
/// glob with `*`/`?` in the last part; sorted by name. Errors say what was
/// looked at.
pub fn list_files(spec: &Path) -> Result<Vec<PathBuf>, String> {
    let name = spec
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (dir, pattern) = if name.contains(['*', '?']) {
        (
            spec.parent().unwrap_or(Path::new(".")).to_path_buf(),
            Some(name),
        )
    } else if spec.is_dir() {
        (spec.to_path_buf(), None)
    } else if spec.is_file() {
        return Ok(vec![spec.to_path_buf()]);
    } else {
        return Err(format!("no image file or folder at {}", spec.display()));
    };
    let entries = std::fs::read_dir(&dir)
        .map_err(|e| format!("cannot read the image folder {}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| {
            let n = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            match &pattern {
                Some(pat) => wildcard(pat, &n),
                None => {
                    let ext = p
                        .extension()
                        .map(|x| x.to_string_lossy().to_ascii_lowercase())
                        .unwrap_or_default();
                    !n.starts_with('.') && IMAGE_EXTENSIONS.contains(&ext.as_str())
                }
            }
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!(
            "{} matches no image file (png, jpg, jpeg, gif, webp)",
            spec.display()
        ));
    }
    Ok(files)
}

/// Where a point's images come from.
#[derive(Debug, Clone, PartialEq)]
pub enum ImageSource {
    /// Drawn by mlxrun: this size and encoding, seeded.
    Synthetic {
        size: ImageSize,
        format: ImageFormat,
    },
    /// Local files, used in order and cycled.
    Files(Vec<PathBuf>),
}

/// `count` data URLs for each of `requests` requests. Synthetic images are
/// all different (seed, request and position); files are taken in order
/// and cycled.
pub fn request_images(
    source: &ImageSource,
    count: u32,
    requests: usize,
    seed: u64,
) -> Result<Vec<Vec<String>>, String> {
    let count = count as usize;
    match source {
        ImageSource::Synthetic { size, format } => Ok((0..requests)
            .map(|r| {
                (0..count)
                    .map(|k| {
                        let s = seed
                            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                            .wrapping_add((r * count + k) as u64);
                        data_url(format.mime(), &synthetic_image(*size, s, *format))
                    })
                    .collect()
            })
            .collect()),
        ImageSource::Files(files) if files.is_empty() => Err("no image files".into()),
        ImageSource::Files(files) => {
            let urls = files
                .iter()
                .take(requests * count)
                .map(|p| file_data_url(p))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((0..requests)
                .map(|r| {
                    (0..count)
                        .map(|k| urls[(r * count + k) % urls.len()].clone())
                        .collect()
                })
                .collect())
        }
    }
}

/// `messages` with `images` attached to the last user message: its content
/// becomes `[{"type":"text",...}, {"type":"image_url",...}...]`. No images:
/// the messages unchanged (a text-only request).
pub fn attach_images(messages: &Value, images: &[String]) -> Value {
    if images.is_empty() {
        return messages.clone();
    }
    let mut out = messages.clone();
    let Some(list) = out.as_array_mut() else {
        return out;
    };
    let last_user = list
        .iter()
        .rposition(|m| m.get("role").and_then(Value::as_str) == Some("user"));
    let idx = match last_user {
        Some(i) => i,
        None => {
            list.push(json!({"role": "user", "content": ""}));
            list.len() - 1
        }
    };
    let mut parts = match list[idx].get("content") {
        Some(Value::String(t)) => vec![json!({"type": "text", "text": t})],
        Some(Value::Array(a)) => a.clone(),
        _ => Vec::new(),
    };
    for url in images {
        parts.push(json!({"type": "image_url", "image_url": {"url": url}}));
    }
    list[idx]["content"] = Value::Array(parts);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(w: u32, h: u32) -> ImageSize {
        ImageSize {
            width: w,
            height: h,
        }
    }

    #[test]
    fn synthetic_png_has_the_size_and_differs_by_seed() {
        let a = synthetic_image(size(64, 48), 1, ImageFormat::Png);
        assert_eq!(png_size(&a), Some(size(64, 48)));
        assert_eq!(sniff_mime(&a), Some("image/png"));
        // decodes, with the pixels drawn
        let dec = png::Decoder::new(std::io::Cursor::new(&a));
        let mut reader = dec.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (64, 48));
        assert_eq!(
            &buf[..info.buffer_size()],
            &synthetic_pixels(size(64, 48), 1)[..]
        );
        // same seed, same bytes; another seed, other bytes
        assert_eq!(a, synthetic_image(size(64, 48), 1, ImageFormat::Png));
        assert_ne!(a, synthetic_image(size(64, 48), 2, ImageFormat::Png));
    }

    #[test]
    fn synthetic_jpeg_is_a_jpeg() {
        let j = synthetic_image(size(40, 30), 3, ImageFormat::Jpeg);
        assert_eq!(sniff_mime(&j), Some("image/jpeg"));
        assert!(j.ends_with(&[0xff, 0xd9]));
    }

    #[test]
    fn data_urls_carry_mime_and_base64() {
        assert_eq!(data_url("image/png", b"abc"), "data:image/png;base64,YWJj");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.png");
        std::fs::write(&p, synthetic_image(size(8, 8), 0, ImageFormat::Png)).unwrap();
        assert!(
            file_data_url(&p)
                .unwrap()
                .starts_with("data:image/png;base64,iVBORw0KGgo")
        );
        let t = dir.path().join("notes.png");
        std::fs::write(&t, "hello").unwrap();
        let e = file_data_url(&t).unwrap_err();
        assert!(e.contains("notes.png") && e.contains("not a PNG"), "{e}");
    }

    #[test]
    fn every_request_gets_its_own_images() {
        let src = ImageSource::Synthetic {
            size: size(16, 16),
            format: ImageFormat::Png,
        };
        let urls = request_images(&src, 2, 3, 7).unwrap();
        assert_eq!(urls.len(), 3);
        assert!(urls.iter().all(|u| u.len() == 2));
        let mut all: Vec<&String> = urls.iter().flatten().collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 6, "six different images");
        assert_eq!(urls, request_images(&src, 2, 3, 7).unwrap());
        assert!(
            request_images(&src, 0, 3, 7)
                .unwrap()
                .iter()
                .all(Vec::is_empty)
        );
    }

    #[test]
    fn files_come_from_a_file_a_folder_or_a_glob() {
        let d = tempfile::tempdir().unwrap();
        for n in ["b.png", "a.jpg", "notes.txt"] {
            std::fs::write(d.path().join(n), b"x").unwrap();
        }
        let names = |v: Vec<PathBuf>| -> Vec<String> {
            v.iter()
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(names(list_files(d.path()).unwrap()), ["a.jpg", "b.png"]);
        assert_eq!(
            names(list_files(&d.path().join("*.png")).unwrap()),
            ["b.png"]
        );
        assert_eq!(
            names(list_files(&d.path().join("b.png")).unwrap()),
            ["b.png"]
        );
        assert!(
            list_files(&d.path().join("*.gif"))
                .unwrap_err()
                .contains("matches no image")
        );
        assert!(
            list_files(&d.path().join("nope"))
                .unwrap_err()
                .contains("no image file or folder")
        );
        assert!(wildcard("a*c?", "abbbcd") && !wildcard("a*c", "abd") && wildcard("*", ""));
    }

    #[test]
    fn images_attach_to_the_last_user_message() {
        let m = json!([{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}]);
        let out = attach_images(&m, &["data:image/png;base64,AA".into()]);
        assert_eq!(
            out[1]["content"],
            json!([
                {"type": "text", "text": "hi"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}
            ])
        );
        assert_eq!(out[0], m[0]);
        assert_eq!(attach_images(&m, &[]), m);
    }
}
