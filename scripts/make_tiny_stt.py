#!/usr/bin/env python3
"""Build a tiny random-weight Whisper speech-to-text model that mlx_audio loads.

No download happens: the byte-level BPE tokenizer is trained with `tokenizers`
on generated text (the corpus of make_tiny_model.py), padded with filler
entries to Whisper's multilingual layout (51 865 ids: text tokens below 50 257,
then <|endoftext|>, <|startoftranscript|>, 99 language tokens, the task tokens,
<|notimestamps|> and the 1 501 timestamp tokens <|0.00|>..<|30.00|>), so
mlx_audio treats it as multilingual and honours the `language` field. The
feature extractor config is written here (transformers' WhisperFeatureExtractor
is numpy only) and the weights are random (seeded) MLX arrays.

`python -m mlx_vlm.server --stt-model OUT_DIR` serves it at
/v1/audio/transcriptions on Linux CPU. Random weights give garbage text; the
decoder stops at max_target_positions/2 tokens per 30 s window (the default
--text-ctx 64 → 32 tokens), which bounds the time of a request.

Idempotent: an OUT_DIR that already loads is kept.

Usage: make_tiny_stt.py OUT_DIR [--state 64] [--layers 2] [--text-ctx 64]
"""
import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_tiny_model import corpus  # noqa: E402

N_TEXT = 50257  # ids below this are text tokens, as in Whisper's GPT-2 vocabulary
# Whisper's language codes in token order (openai/whisper tokenizer.LANGUAGES, first 99).
LANGS = (
    "en zh de es ru ko fr ja pt tr pl ca nl ar sv it id hi fi vi he uk el ms cs ro da hu ta no th ur hr "
    "bg lt la mi ml cy sk te fa lv bn sr az sl kn et mk br eu is hy ne mn bs kk sq sw gl mr pa si km sn "
    "yo so af oc ka be tg sd gu am yi lo uz fo ht ps tk nn mt sa lb my bo tl mg as tt haw ln ha ba jw su"
).split()
assert len(LANGS) == 99


def specials():
    toks = ["<|endoftext|>", "<|startoftranscript|>"]
    toks += [f"<|{code}|>" for code in LANGS]
    toks += ["<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nocaptions|>", "<|notimestamps|>"]
    toks += [f"<|{i * 0.02:.2f}|>" for i in range(1501)]
    return toks


def build_tokenizer(out: Path, seed: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    trained = Tokenizer(models.BPE())
    trained.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=4096, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    trained.train_from_iterator(corpus(seed), trainer=trainer)
    model = json.loads(trained.to_str())["model"]
    vocab = dict(model["vocab"])
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    # Fillers up to Whisper's 50 257 text ids (plain ASCII, never produced by a merge).
    i = 0
    while len(vocab) < N_TEXT:
        vocab.setdefault(f"fill{i}", len(vocab))
        i += 1
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(specials())
    n_vocab = tok.get_vocab_size()
    assert n_vocab == 51865, n_vocab
    assert tok.token_to_id("<|endoftext|>") == N_TEXT
    tok.save(str(out / "tokenizer.json"))
    (out / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "WhisperTokenizer",
                "bos_token": "<|endoftext|>",
                "eos_token": "<|endoftext|>",
                "unk_token": "<|endoftext|>",
                "pad_token": "<|endoftext|>",
                "model_max_length": 1024,
                "clean_up_tokenization_spaces": False,
            },
            indent=2,
        )
    )
    (out / "special_tokens_map.json").write_text(
        json.dumps({k: "<|endoftext|>" for k in ("bos_token", "eos_token", "unk_token", "pad_token")}, indent=2)
    )
    return n_vocab


def build_weights(out: Path, args, n_vocab: int):
    import mlx.core as mx
    from mlx.utils import tree_flatten

    from mlx_audio.stt.models.whisper.whisper import Model, ModelDimensions

    config = {
        "model_type": "whisper",
        "n_mels": 80,
        "n_audio_ctx": 1500,  # 30 s windows: fixed by Whisper's audio front end
        "n_audio_state": args.state,
        "n_audio_head": 2,
        "n_audio_layer": args.layers,
        "n_vocab": n_vocab,
        "n_text_ctx": args.text_ctx,
        "n_text_state": args.state,
        "n_text_head": 2,
        "n_text_layer": args.layers,
    }
    mx.random.seed(args.seed)
    model = Model(ModelDimensions.from_dict(config), dtype=mx.float16)
    weights = {k: v.astype(mx.float16) for k, v in tree_flatten(model.parameters())}
    mx.save_safetensors(str(out / "model.safetensors"), weights, metadata={"format": "mlx"})
    (out / "config.json").write_text(json.dumps(config, indent=2))
    (out / "generation_config.json").write_text(
        json.dumps(
            {"bos_token_id": N_TEXT, "eos_token_id": N_TEXT, "decoder_start_token_id": N_TEXT + 1, "is_multilingual": True},
            indent=2,
        )
    )
    (out / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "feature_extractor_type": "WhisperFeatureExtractor",
                "processor_class": "WhisperProcessor",
                "feature_size": 80,
                "sampling_rate": 16000,
                "hop_length": 160,
                "chunk_length": 30,
                "n_fft": 400,
                "n_samples": 480000,
                "nb_max_frames": 3000,
                "padding_side": "right",
                "padding_value": 0.0,
                "return_attention_mask": False,
            },
            indent=2,
        )
    )


def loads(out: Path, transcribe: bool) -> bool:
    """True when mlx_audio loads OUT with its Whisper processor (and, with
    `transcribe`, turns 1 s of silence into text: ~2 s, so only after a build)."""
    try:
        import numpy as np

        from mlx_audio.stt.utils import load_model

        model = load_model(str(out))
        if getattr(model, "_processor", None) is None:
            raise RuntimeError("WhisperProcessor did not load")
        if not transcribe:
            return True
        result = model.generate(np.zeros(16000, dtype=np.float32), language="en", temperature=0.0)
        return isinstance(result.text, str)
    except Exception as exc:  # a broken or partial folder is rebuilt
        print(f"tiny STT model at {out} does not load ({type(exc).__name__}: {exc})", file=sys.stderr)
        return False


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path)
    p.add_argument("--state", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--text-ctx", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    out = args.out
    if (out / "config.json").exists() and (out / "model.safetensors").exists() and loads(out, transcribe=False):
        print(f"tiny STT model already present: {out}")
        return 0
    tmp = out.with_name(out.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    n_vocab = build_tokenizer(tmp, args.seed)
    build_weights(tmp, args, n_vocab)
    if not loads(tmp, transcribe=True):
        print(f"error: the tiny STT model built in {tmp} does not load with mlx_audio", file=sys.stderr)
        return 1
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    print(f"tiny STT model written: {out} (whisper, vocab {n_vocab}, state {args.state}, layers {args.layers})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
