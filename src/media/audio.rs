//! Audio for transcription requests: synthetic speech-like WAV (16 kHz mono
//! 16-bit: voiced "syllables" of varying pitch with harmonics, pauses and a
//! little noise, seeded) of any duration, and WAV files from a folder with
//! their duration read from the header. Other formats are refused: mlxrun
//! reports audio seconds and the real-time factor, which need the duration.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Sample rate of synthetic audio (what Whisper-style models take).
pub const SAMPLE_RATE: u32 = 16_000;

/// One audio file a request sends.
#[derive(Debug, Clone, PartialEq)]
pub struct Clip {
    /// File name in the multipart form.
    pub name: String,
    pub bytes: Vec<u8>,
    /// Duration in seconds (from the header).
    pub seconds: f64,
}

/// Samples of the synthetic speech-like signal for `seed`.
pub fn synthetic_samples(duration_s: f64, seed: u64) -> Vec<i16> {
    let n = (duration_s.max(0.0) * f64::from(SAMPLE_RATE)).round() as usize;
    let mut rng = StdRng::seed_from_u64(seed ^ 0x0a0d_10ee_d5ee_d000);
    let mut out = Vec::with_capacity(n);
    let sr = f64::from(SAMPLE_RATE);
    let tau = std::f64::consts::TAU;
    while out.len() < n {
        // a syllable: 80-320 ms voiced at 90-250 Hz, then a 20-200 ms gap
        let voiced = (rng.random_range(0.08..0.32) * sr) as usize;
        let gap = (rng.random_range(0.02..0.2) * sr) as usize;
        let f0 = rng.random_range(90.0..250.0);
        let glide = rng.random_range(-0.3..0.3); // pitch change over the syllable
        let amps = [1.0, rng.random_range(0.3..0.8), rng.random_range(0.1..0.5)];
        let loud = rng.random_range(0.25..0.6);
        let mut phase = 0.0f64;
        for i in 0..voiced {
            if out.len() >= n {
                break;
            }
            let t = i as f64 / voiced as f64;
            let f = f0 * (1.0 + glide * t);
            phase = (phase + tau * f / sr) % tau;
            let env = (std::f64::consts::PI * t).sin();
            let v: f64 = amps
                .iter()
                .enumerate()
                .map(|(h, a)| a * (phase * (h + 1) as f64).sin())
                .sum::<f64>()
                / 1.8;
            let noise = rng.random_range(-0.02..0.02);
            out.push(((v * env * loud + noise) * 32767.0) as i16);
        }
        for _ in 0..gap {
            if out.len() >= n {
                break;
            }
            out.push((rng.random_range(-0.01..0.01) * 32767.0) as i16);
        }
    }
    out
}

/// A 16 kHz mono 16-bit WAV of `duration_s` seconds (11 min ≈ 21 MB).
pub fn synthetic_wav(duration_s: f64, seed: u64) -> Vec<u8> {
    let samples = synthetic_samples(duration_s, seed);
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut buf = Cursor::new(Vec::with_capacity(44 + samples.len() * 2));
    {
        // writing to memory cannot fail; sizes stay far below 4 GiB
        let mut w = hound::WavWriter::new(&mut buf, spec).expect("wav header to memory");
        let mut i16w = w.get_i16_writer(samples.len() as u32);
        for s in samples {
            i16w.write_sample(s);
        }
        i16w.flush().expect("wav samples to memory");
        w.finalize().expect("wav to memory");
    }
    buf.into_inner()
}

/// Duration in seconds of a WAV file's bytes, from its header.
pub fn wav_seconds(bytes: &[u8]) -> Result<f64, String> {
    let r =
        hound::WavReader::new(Cursor::new(bytes)).map_err(|e| format!("not a WAV file: {e}"))?;
    let spec = r.spec();
    if spec.sample_rate == 0 {
        return Err("not a WAV file: sample rate 0".into());
    }
    Ok(f64::from(r.duration()) / f64::from(spec.sample_rate))
}

/// A synthetic clip named `synthetic-<seed>.wav`.
pub fn synthetic_clip(duration_s: f64, seed: u64) -> Clip {
    let bytes = synthetic_wav(duration_s, seed);
    Clip {
        name: format!("synthetic-{seed}.wav"),
        seconds: (synthetic_samples_len(duration_s)) as f64 / f64::from(SAMPLE_RATE),
        bytes,
    }
}

fn synthetic_samples_len(duration_s: f64) -> usize {
    (duration_s.max(0.0) * f64::from(SAMPLE_RATE)).round() as usize
}

/// The audio files of `dir`, sorted by name. Only `.wav` files are
/// accepted; any other file is an error naming it (a duration is needed for
/// the real-time factor). Hidden files are skipped.
pub fn folder_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read the audio folder {}: {e}", dir.display()))?;
    let mut files = Vec::new();
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !p.is_file() {
            continue;
        }
        let ext = p
            .extension()
            .map(|x| x.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if ext != "wav" {
            return Err(format!(
                "{} is not a .wav file; mlxrun reads durations from WAV headers only (convert it: ffmpeg -i '{name}' -ar 16000 -ac 1 out.wav)",
                p.display()
            ));
        }
        files.push(p);
    }
    files.sort();
    if files.is_empty() {
        return Err(format!(
            "the audio folder {} holds no .wav file",
            dir.display()
        ));
    }
    Ok(files)
}

/// Read a WAV file as a clip; errors name the file.
pub fn file_clip(path: &Path) -> Result<Clip, String> {
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read audio {}: {e}", path.display()))?;
    let seconds = wav_seconds(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Clip {
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "audio.wav".into()),
        bytes,
        seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_wav_has_the_header_and_duration() {
        let w = synthetic_wav(1.5, 4);
        assert_eq!(&w[..4], b"RIFF");
        assert_eq!(&w[8..16], b"WAVEfmt ");
        assert_eq!(w.len(), 44 + 24_000 * 2);
        assert!((wav_seconds(&w).unwrap() - 1.5).abs() < 1e-9);
        let r = hound::WavReader::new(Cursor::new(&w)).unwrap();
        let spec = r.spec();
        assert_eq!(
            (spec.channels, spec.sample_rate, spec.bits_per_sample),
            (1, 16_000, 16)
        );
    }

    #[test]
    fn synthetic_audio_is_seeded_and_not_silent() {
        assert_eq!(synthetic_wav(0.5, 1), synthetic_wav(0.5, 1));
        assert_ne!(synthetic_wav(0.5, 1), synthetic_wav(0.5, 2));
        let s = synthetic_samples(2.0, 9);
        let rms = (s.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / s.len() as f64).sqrt();
        assert!(rms > 1000.0 && rms < 20_000.0, "rms {rms}");
        // pauses: some 10 ms windows are near silence, some are loud
        let windows: Vec<f64> = s
            .chunks(160)
            .map(|c| c.iter().map(|&x| f64::from(x).abs()).sum::<f64>() / c.len() as f64)
            .collect();
        assert!(windows.iter().any(|&m| m < 400.0));
        assert!(windows.iter().any(|&m| m > 3000.0));
    }

    #[test]
    fn eleven_minutes_is_about_21_mb() {
        let c = synthetic_clip(660.0, 0);
        assert_eq!(c.bytes.len(), 44 + 660 * 16_000 * 2);
        assert!((c.seconds - 660.0).abs() < 1e-9);
        assert!((wav_seconds(&c.bytes).unwrap() - 660.0).abs() < 1e-9);
    }

    #[test]
    fn folders_take_wav_only() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("b.wav"), synthetic_wav(0.25, 0)).unwrap();
        std::fs::write(d.path().join("a.wav"), synthetic_wav(0.5, 0)).unwrap();
        let files = folder_files(d.path()).unwrap();
        assert_eq!(files.len(), 2);
        assert!(files[0].ends_with("a.wav"));
        let c = file_clip(&files[0]).unwrap();
        assert_eq!((c.name.as_str(), c.seconds), ("a.wav", 0.5));
        std::fs::write(d.path().join("c.mp3"), b"ID3").unwrap();
        let e = folder_files(d.path()).unwrap_err();
        assert!(e.contains("c.mp3") && e.contains("ffmpeg"), "{e}");
        std::fs::write(d.path().join("c.mp3"), b"").unwrap();
        std::fs::remove_file(d.path().join("c.mp3")).unwrap();
        std::fs::write(d.path().join("z.wav"), b"nope").unwrap();
        let e = file_clip(&d.path().join("z.wav")).unwrap_err();
        assert!(e.contains("z.wav") && e.contains("not a WAV"), "{e}");
        let empty = tempfile::tempdir().unwrap();
        assert!(folder_files(empty.path()).unwrap_err().contains("no .wav"));
    }
}
