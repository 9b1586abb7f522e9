//! Tests of `build_prompts` end to end with the repo's tiny Llama tokenizer
//! (a real byte-level BPE); every count is checked with a separately loaded
//! tokenizer.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::json;
use tokenizers::Tokenizer;

use super::*;

fn tiny() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/tiny-llama/tokenizer.json")
}

/// An independent tokenizer (not the module's cached one).
fn independent() -> Tokenizer {
    Tokenizer::from_file(tiny()).unwrap()
}

fn ids(tok: &Tokenizer, text: &str) -> Vec<u32> {
    tok.encode(text, false).unwrap().get_ids().to_vec()
}

fn synthetic(input_tokens: u32, dist: LengthDist, prefix: u32, seed: u64) -> WorkloadSpec {
    WorkloadSpec {
        source: PromptSource::Synthetic {
            input_tokens,
            dist,
            shared_prefix_tokens: prefix,
        },
        seed,
        shuffle: false,
        tokenizer: Some(tiny()),
    }
}

fn file_spec(path: &Path, shuffle: bool, seed: u64, tokenizer: Option<PathBuf>) -> WorkloadSpec {
    WorkloadSpec {
        source: PromptSource::File {
            path: path.to_path_buf(),
            format: FileFormat::Auto,
        },
        seed,
        shuffle,
        tokenizer,
    }
}

/// Checks every prompt's count with the independent tokenizer; the counts.
fn exact_counts(prompts: &[Prompt]) -> Vec<u32> {
    let tok = independent();
    prompts
        .iter()
        .map(|p| {
            let n = ids(&tok, &p.text).len() as u32;
            assert_eq!(p.input_tokens, Some(n), "{:?}", p.text);
            assert_eq!(p.messages, json!([{"role": "user", "content": p.text}]));
            n
        })
        .collect()
}

use super::lengths::tests::mean_std;

#[test]
fn synthetic_fixed_lengths_are_exact() {
    for len in [1, 2, 7, 100] {
        let prompts = build_prompts(&synthetic(len, LengthDist::Fixed, 0, 3), 60).unwrap();
        assert_eq!(prompts.len(), 60);
        assert!(exact_counts(&prompts).iter().all(|&n| n == len), "{len}");
    }
}

#[test]
fn synthetic_uniform_lengths_exact_and_within_bounds() {
    let prompts = build_prompts(
        &synthetic(64, LengthDist::Uniform { spread: 0.5 }, 0, 5),
        400,
    )
    .unwrap();
    let counts = exact_counts(&prompts);
    assert!(counts.iter().all(|n| (32..=96).contains(n)), "{counts:?}");
    // They spread over the range rather than sitting at the center.
    assert!(*counts.iter().min().unwrap() <= 36, "{counts:?}");
    assert!(*counts.iter().max().unwrap() >= 92, "{counts:?}");
    let (mean, std) = mean_std(&counts);
    assert!((mean - 64.0).abs() < 3.0, "mean {mean}");
    // Uniform over 65 values: std = sqrt((65^2 - 1) / 12) = 18.76.
    assert!((std - 18.76).abs() < 2.0, "std {std}");
}

#[test]
fn synthetic_normal_lengths_exact_with_target_mean_and_std() {
    let prompts = build_prompts(
        &synthetic(100, LengthDist::Normal { spread: 0.2 }, 0, 11),
        1000,
    )
    .unwrap();
    let counts = exact_counts(&prompts);
    let (mean, std) = mean_std(&counts);
    assert!((mean - 100.0).abs() < 2.0, "mean {mean}");
    assert!((std - 20.0).abs() < 2.0, "std {std}");
}

#[test]
fn shared_prefix_identical_tails_different() {
    let prefix = 32usize;
    let spec = synthetic(64, LengthDist::Uniform { spread: 0.3 }, prefix as u32, 21);
    let prompts = build_prompts(&spec, 200).unwrap();
    exact_counts(&prompts);
    let tok = independent();
    let first = ids(&tok, &prompts[0].text);
    let head_ids = &first[..prefix];
    // The same prefix text, and the same first `prefix` tokens, everywhere.
    let head_text = tok.decode(head_ids, false).unwrap();
    let mut tails = HashSet::new();
    for p in &prompts {
        let ids = ids(&tok, &p.text);
        assert_eq!(&ids[..prefix], head_ids, "{:?}", p.text);
        assert!(p.text.starts_with(head_text.trim_end()), "{:?}", p.text);
        assert!(ids.len() > prefix);
        assert!(
            tails.insert(ids[prefix..].to_vec()),
            "repeated tail in {:?}",
            p.text
        );
    }
    // The prefix is not the same text for another seed.
    let other = build_prompts(&synthetic(64, LengthDist::Fixed, prefix as u32, 22), 1).unwrap();
    assert_ne!(ids(&tok, &other[0].text)[..prefix], *head_ids);
}

#[test]
fn shared_prefix_longer_than_prompt_is_clamped() {
    let prompts = build_prompts(&synthetic(10, LengthDist::Fixed, 20, 1), 30).unwrap();
    assert!(exact_counts(&prompts).iter().all(|&n| n == 21));
    let texts: HashSet<_> = prompts.iter().map(|p| &p.text).collect();
    assert_eq!(texts.len(), 30);
}

#[test]
fn synthetic_prompts_all_different_even_short() {
    let prompts = build_prompts(&synthetic(3, LengthDist::Fixed, 0, 8), 1000).unwrap();
    exact_counts(&prompts);
    let texts: HashSet<_> = prompts.iter().map(|p| &p.text).collect();
    assert_eq!(texts.len(), 1000);
}

#[test]
fn same_seed_same_prompts_other_seed_different() {
    let spec = synthetic(50, LengthDist::Normal { spread: 0.3 }, 8, 42);
    let a = build_prompts(&spec, 100).unwrap();
    let b = build_prompts(&spec, 100).unwrap();
    assert_eq!(a, b);
    // A prefix of a longer run is the same prompts.
    assert_eq!(build_prompts(&spec, 10).unwrap(), a[..10]);
    let c = build_prompts(
        &synthetic(50, LengthDist::Normal { spread: 0.3 }, 8, 43),
        100,
    )
    .unwrap();
    assert!(a.iter().zip(&c).all(|(x, y)| x.text != y.text));
    let lens_a: Vec<_> = a.iter().map(|p| p.input_tokens).collect();
    let lens_c: Vec<_> = c.iter().map(|p| p.input_tokens).collect();
    assert_ne!(lens_a, lens_c);
}

#[test]
fn synthetic_needs_tokenizer_and_sane_parameters() {
    let mut spec = synthetic(10, LengthDist::Fixed, 0, 1);
    spec.tokenizer = None;
    let err = build_prompts(&spec, 1).unwrap_err();
    assert!(matches!(err, WorkloadError::TokenizerRequired), "{err}");
    assert!(err.to_string().contains("tokenizer.json"));
    let err = build_prompts(&synthetic(0, LengthDist::Fixed, 0, 1), 1).unwrap_err();
    assert!(err.to_string().contains("input_tokens"), "{err}");
    let err = build_prompts(
        &synthetic(10, LengthDist::Uniform { spread: -1.0 }, 0, 1),
        1,
    )
    .unwrap_err();
    assert!(err.to_string().contains("spread"), "{err}");
    assert!(
        build_prompts(&synthetic(10, LengthDist::Fixed, 0, 1), 0)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn fixed_prompt_repeated_and_counted_when_tokenizer_given() {
    let mut spec = WorkloadSpec {
        source: PromptSource::Fixed("the server was fast".to_string()),
        seed: 0,
        shuffle: false,
        tokenizer: None,
    };
    let prompts = build_prompts(&spec, 3).unwrap();
    assert_eq!(prompts.len(), 3);
    assert!(
        prompts
            .iter()
            .all(|p| p.text == "the server was fast" && p.input_tokens.is_none())
    );
    assert_eq!(
        prompts[0].messages,
        json!([{"role": "user", "content": "the server was fast"}])
    );
    spec.tokenizer = Some(tiny());
    let prompts = build_prompts(&spec, 2).unwrap();
    let want = ids(&independent(), "the server was fast").len() as u32;
    assert_eq!(prompts[1].input_tokens, Some(want));
}

#[test]
fn file_prompts_cycle_in_file_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.txt");
    std::fs::write(&path, "zero\none\n\ntwo\n").unwrap();
    let prompts = build_prompts(&file_spec(&path, false, 0, None), 7).unwrap();
    let texts: Vec<_> = prompts.iter().map(|p| p.text.as_str()).collect();
    assert_eq!(texts, ["zero", "one", "two", "zero", "one", "two", "zero"]);
    assert!(prompts.iter().all(|p| p.input_tokens.is_none()));
    let two = build_prompts(&file_spec(&path, false, 0, None), 2).unwrap();
    assert_eq!(two, prompts[..2]);
}

#[test]
fn file_prompts_shuffle_reproducibly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.txt");
    let lines: Vec<String> = (0..50).map(|i| format!("prompt {i}")).collect();
    std::fs::write(&path, lines.join("\n")).unwrap();
    let texts = |seed: u64, count: usize| -> Vec<String> {
        build_prompts(&file_spec(&path, true, seed, None), count)
            .unwrap()
            .into_iter()
            .map(|p| p.text)
            .collect()
    };
    let a = texts(1, 50);
    assert_eq!(a, texts(1, 50));
    assert_ne!(a, lines, "shuffled");
    let mut sorted = a.clone();
    sorted.sort();
    let mut want = lines.clone();
    want.sort();
    assert_eq!(sorted, want, "a permutation");
    assert_ne!(a, texts(2, 50));
    // Cycling repeats the shuffled order.
    let c = texts(1, 120);
    assert_eq!(c[..50], a[..]);
    assert_eq!(c[50..100], a[..]);
    assert_eq!(c[100..], a[..20]);
}

#[test]
fn file_prompts_counted_when_tokenizer_given() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.jsonl");
    std::fs::write(
        &path,
        concat!(
            r#"{"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "the server was fast"}]}"#,
            "\n",
            r#"{"prompt": "three five apple"}"#,
            "\n"
        ),
    )
    .unwrap();
    let prompts = build_prompts(&file_spec(&path, false, 0, Some(tiny())), 3).unwrap();
    let tok = independent();
    for p in &prompts {
        assert_eq!(p.input_tokens, Some(ids(&tok, &p.text).len() as u32));
    }
    assert_eq!(prompts[0].text, "be brief\nthe server was fast");
    assert_eq!(prompts[2], prompts[0]);
}

#[test]
fn file_errors_pass_through() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.jsonl");
    std::fs::write(
        &path,
        "{\"prompt\": \"a\"}\n{\"prompt\": \"b\"}\nnot json\n",
    )
    .unwrap();
    let err = build_prompts(&file_spec(&path, false, 0, None), 5)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&path.display().to_string()) && err.contains("line 3"),
        "{err}"
    );
}
