#!/usr/bin/env python3
"""Build a tiny random-weight Llama model with a real, locally trained tokenizer.

No download happens: the BPE tokenizer is trained with `tokenizers` on text this
script generates, and the weights are random (seeded) MLX arrays saved with
mlx_lm's own writer, so `mlx_lm.server --model <dir>` loads it like any model.

The end-of-sequence token gets an all-zero output row, so its logit is always 0
while the other logits spread far above and below: generations run to
`max_tokens` instead of stopping at random, which keeps benchmark token counts
comparable across points.

Usage: make_tiny_model.py OUT_DIR [--hidden 128] [--layers 2] [--vocab 2048]
"""
import argparse
import json
import random
import sys
from pathlib import Path

WORDS = (
    "the a server model token request batch decode prompt cache latency throughput "
    "memory queue stream first last time fast slow load balance round robin nginx "
    "instance port answer question write short paragraph about why concurrency helps "
    "list five ways make inference servers faster share three optimization tips for "
    "serving apple silicon metal unified kernel matrix vector attention head layer "
    "norm weight bias value key query softmax sample temperature top probability "
    "one two three four five six seven eight nine ten hundred thousand million "
    "is are was were be been being have has had do does did will would can could "
    "and or but if then else when while for with without into onto from to of in on "
    "hello world ping pong user assistant system benchmark measure report result"
).split()


def corpus(seed: int, lines: int = 20000):
    rng = random.Random(seed)
    for _ in range(lines):
        n = rng.randint(4, 24)
        sentence = " ".join(rng.choice(WORDS) for _ in range(n))
        yield sentence.capitalize() + rng.choice([".", "?", "!", ",", ":"])
    # every printable ASCII character, so no input maps to an unknown token
    yield "".join(chr(c) for c in range(32, 127))


def build_tokenizer(out: Path, vocab: int, seed: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|user|>", "<|assistant|>", "<|system|>"]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus(seed), trainer=trainer)
    tok.save(str(out / "tokenizer.json"))
    chat_template = (
        "{{ bos_token }}{% for m in messages %}"
        "{% if m['role'] == 'user' %}<|user|>{% elif m['role'] == 'system' %}<|system|>"
        "{% else %}<|assistant|>{% endif %}"
        "{% if m['content'] is string %}{{ m['content'] }}"
        "{% else %}{% for part in m['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}"
        "{% if m['role'] == 'assistant' %}{{ eos_token }}{% endif %}"
        "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    (out / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "PreTrainedTokenizerFast",
                "bos_token": "<|begin_of_text|>",
                "eos_token": "<|end_of_text|>",
                "pad_token": "<|end_of_text|>",
                "model_max_length": 4096,
                "clean_up_tokenization_spaces": False,
                "chat_template": chat_template,
            },
            indent=2,
        )
    )
    (out / "special_tokens_map.json").write_text(
        json.dumps({"bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>"}, indent=2)
    )
    return tok.get_vocab_size(), tok.token_to_id("<|begin_of_text|>"), tok.token_to_id("<|end_of_text|>")


def build_weights(out: Path, args, vocab: int, bos: int, eos: int):
    import mlx.core as mx
    from mlx.utils import tree_flatten

    from mlx_lm.models import llama

    config = {
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": args.hidden,
        "num_hidden_layers": args.layers,
        "intermediate_size": args.hidden * 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "rms_norm_eps": 1e-5,
        "vocab_size": vocab,
        "max_position_embeddings": 4096,
        "rope_theta": 10000.0,
        "tie_word_embeddings": False,
        "bos_token_id": bos,
        "eos_token_id": eos,
        "torch_dtype": "float32",
    }
    mx.random.seed(args.seed)
    model = llama.Model(llama.ModelArgs.from_dict(config))
    # Spread the logits (std ~4) and pin EOS at exactly 0.
    head = mx.random.normal((vocab, args.hidden)) * (4.0 / (args.hidden ** 0.5))
    mask = mx.ones((vocab, 1))
    mask[eos] = 0.0
    model.lm_head.weight = head * mask
    weights = dict(tree_flatten(model.parameters()))
    mx.save_safetensors(str(out / "model.safetensors"), weights, metadata={"format": "mlx"})
    (out / "config.json").write_text(json.dumps(config, indent=2))
    (out / "generation_config.json").write_text(
        json.dumps({"bos_token_id": bos, "eos_token_id": eos}, indent=2)
    )


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--vocab", type=int, default=2048)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    out = args.out
    if (out / "config.json").exists() and (out / "model.safetensors").exists():
        print(f"tiny model already present: {out}")
        return 0
    tmp = out.with_name(out.name + ".partial")
    tmp.mkdir(parents=True, exist_ok=True)
    vocab, bos, eos = build_tokenizer(tmp, args.vocab, args.seed)
    build_weights(tmp, args, vocab, bos, eos)
    if out.exists():
        import shutil

        shutil.rmtree(out)
    tmp.rename(out)
    print(f"tiny model written: {out} (vocab {vocab}, hidden {args.hidden}, layers {args.layers})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
