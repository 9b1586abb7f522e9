//! The media of one point's requests, built before the point starts: a
//! list of images per request (vision) or an audio clip per request
//! (audio). Synthetic media differ from request to request (seeded by the
//! workload seed and the point) up to a memory budget of
//! [`MEDIA_BYTES_CAP`]; past it the requests cycle through what was built
//! (an 11-minute clip is 21 MB: 12 different clips, then again).

use crate::media::PointMedia;
use crate::media::audio;
use crate::media::image::{self, ImageFormat, ImageSource};
use crate::scenario::expand::Point;
use crate::spec::media::Modality;
use crate::spec::scenario::WorkloadSection;

/// Most bytes of media kept for one point.
pub const MEDIA_BYTES_CAP: usize = 256 << 20;

/// How many different requests fit in the budget when each needs
/// `per_request` bytes (at least 1, at most `requests`).
pub fn distinct_requests(per_request: usize, requests: usize) -> usize {
    (MEDIA_BYTES_CAP / per_request.max(1)).clamp(1, requests.max(1))
}

/// The media of `point` for `requests` requests; errors name the file.
pub fn point_media(
    point: &Point,
    w: &WorkloadSection,
    requests: usize,
) -> Result<PointMedia, String> {
    let seed = w.seed.wrapping_add(point.index as u64);
    match point.modality {
        Modality::Text => Ok(PointMedia::None),
        Modality::Vision => {
            let count = point.image_count.unwrap_or(0);
            if count == 0 {
                return Ok(PointMedia::None);
            }
            let (source, per_image) = match point.image_size {
                Some(size) => (
                    ImageSource::Synthetic {
                        size,
                        format: ImageFormat::parse(&w.image_format).unwrap_or_default(),
                    },
                    // base64 of about raw RGB: noise barely compresses
                    size.width as usize * size.height as usize * 4,
                ),
                None => {
                    let files = image::list_files(std::path::Path::new(&w.image_files))?;
                    let biggest = files
                        .iter()
                        .filter_map(|f| std::fs::metadata(f).ok())
                        .map(|m| m.len() as usize * 4 / 3)
                        .max()
                        .unwrap_or(1);
                    (ImageSource::Files(files), biggest)
                }
            };
            let n = distinct_requests(per_image * count as usize, requests);
            image::request_images(&source, count, n, seed).map(PointMedia::Images)
        }
        Modality::Audio => match point.audio_duration_s {
            Some(d) => {
                let per = (d * f64::from(audio::SAMPLE_RATE) * 2.0) as usize + 44;
                let n = distinct_requests(per, requests);
                Ok(PointMedia::Audio(
                    (0..n)
                        .map(|k| {
                            audio::synthetic_clip(
                                d,
                                seed.wrapping_mul(1_000_003).wrapping_add(k as u64),
                            )
                        })
                        .collect(),
                ))
            }
            None => {
                let files = audio::folder_files(std::path::Path::new(&w.audio_dir))?;
                let mut clips = Vec::new();
                let mut bytes = 0;
                for f in files.iter().take(requests.max(1)) {
                    let c = audio::file_clip(f)?;
                    bytes += c.bytes.len();
                    clips.push(c);
                    if bytes >= MEDIA_BYTES_CAP {
                        break;
                    }
                }
                Ok(PointMedia::Audio(clips))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::media::ImageSize;

    fn point(modality: Modality) -> Point {
        Point {
            index: 1,
            server: 0,
            concurrency: 1,
            request_rate: None,
            max_tokens: 8,
            input_tokens: None,
            requests: 4,
            duration_s: None,
            modality,
            image_count: None,
            image_size: None,
            audio_duration_s: None,
            sampling: crate::spec::scenario::Sampling::GREEDY,
            server_mode: Vec::new(),
        }
    }

    #[test]
    fn budget_bounds_distinct_requests() {
        assert_eq!(distinct_requests(1, 10), 10);
        assert_eq!(distinct_requests(21_120_044, 64), 12);
        assert_eq!(distinct_requests(usize::MAX, 64), 1);
        assert_eq!(distinct_requests(10, 0), 1);
    }

    #[test]
    fn each_modality_gets_its_media() {
        let w = WorkloadSection::default();
        assert_eq!(
            point_media(&point(Modality::Text), &w, 4).unwrap(),
            PointMedia::None
        );
        let mut v = point(Modality::Vision);
        v.image_count = Some(0);
        assert_eq!(point_media(&v, &w, 4).unwrap(), PointMedia::None);
        v.image_count = Some(2);
        v.image_size = Some(ImageSize {
            width: 8,
            height: 8,
        });
        let PointMedia::Images(urls) = point_media(&v, &w, 3).unwrap() else {
            panic!("images expected")
        };
        assert_eq!((urls.len(), urls[0].len()), (3, 2));
        assert!(urls[0][0].starts_with("data:image/png;base64,"));
        let mut a = point(Modality::Audio);
        a.audio_duration_s = Some(0.5);
        let PointMedia::Audio(clips) = point_media(&a, &w, 3).unwrap() else {
            panic!("audio expected")
        };
        assert_eq!(clips.len(), 3);
        assert!(clips.iter().all(|c| c.seconds == 0.5));
        assert_ne!(clips[0].bytes, clips[1].bytes);
        // another point, other clips
        a.index = 2;
        let PointMedia::Audio(other) = point_media(&a, &w, 1).unwrap() else {
            panic!("audio expected")
        };
        assert_ne!(other[0].bytes, clips[0].bytes);
    }
}
