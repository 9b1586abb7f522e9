#!/usr/bin/env python3
"""Build a tiny random-weight Qwen2-VL vision-language model that mlx_vlm loads.

No download happens: the byte-level BPE tokenizer is trained with `tokenizers`
on generated text (the corpus of make_tiny_model.py) plus Qwen2-VL's special
tokens, the image processor is mlx_vlm's own numpy Qwen-VL processor configured
from preprocessor_config.json written here, and the weights are random (seeded)
MLX arrays. `python -m mlx_vlm.server --model OUT_DIR` serves it on Linux CPU.

Qwen2-VL is used because its image processor needs no torch and its image
token count follows the image size (28x28 pixels per token after the 2x2
merge), so bigger images cost more prefill, as with real models.

As in make_tiny_model.py, the end-of-turn token <|im_end|> gets an all-zero
output row, so generations run to max_tokens instead of stopping at random.

Idempotent: an OUT_DIR that already loads is kept.

Usage: make_tiny_vlm.py OUT_DIR [--hidden 128] [--layers 2] [--vocab 2048]
"""
import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_tiny_model import corpus  # noqa: E402

SPECIALS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

# Qwen2-VL's chat template (image parts become <|vision_start|><|image_pad|><|vision_end|>).
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_tokenizer(out: Path, vocab: int, seed: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus(seed), trainer=trainer)
    tok.save(str(out / "tokenizer.json"))
    (out / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "PreTrainedTokenizerFast",
                "eos_token": "<|im_end|>",
                "pad_token": "<|endoftext|>",
                "bos_token": None,
                "model_max_length": 32768,
                "clean_up_tokenization_spaces": False,
                "chat_template": CHAT_TEMPLATE,
            },
            indent=2,
        )
    )
    (out / "chat_template.json").write_text(json.dumps({"chat_template": CHAT_TEMPLATE}, indent=2))
    (out / "special_tokens_map.json").write_text(
        json.dumps({"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}, indent=2)
    )
    return tok.get_vocab_size(), {s: tok.token_to_id(s) for s in SPECIALS}


def build_weights(out: Path, args, vocab: int, ids: dict):
    import mlx.core as mx
    from mlx.utils import tree_flatten

    from mlx_vlm.models import qwen2_vl
    from mlx_vlm.utils import update_module_configs

    heads = 4
    head_dim = args.hidden // heads
    half = head_dim // 2
    mrope = [half // 4, (half - half // 4) // 2, half - half // 4 - (half - half // 4) // 2]
    config = {
        "model_type": "qwen2_vl",
        "architectures": ["Qwen2VLForConditionalGeneration"],
        "hidden_size": args.hidden,
        "num_hidden_layers": args.layers,
        "intermediate_size": args.hidden * 2,
        "num_attention_heads": heads,
        "num_key_value_heads": 2,
        "rms_norm_eps": 1e-6,
        "vocab_size": vocab,
        "max_position_embeddings": 32768,
        "rope_theta": 1000000.0,
        "rope_scaling": {"type": "mrope", "mrope_section": mrope},
        "tie_word_embeddings": False,
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "image_token_id": ids["<|image_pad|>"],
        "video_token_id": ids["<|video_pad|>"],
        "vision_start_token_id": ids["<|vision_start|>"],
        "vision_end_token_id": ids["<|vision_end|>"],
        "torch_dtype": "float32",
        "vision_config": {
            "model_type": "qwen2_vl",
            "depth": 2,
            "embed_dim": 64,
            "hidden_size": args.hidden,
            "num_heads": 4,
            "mlp_ratio": 2,
            "patch_size": 14,
            "spatial_patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "in_channels": 3,
        },
    }
    mx.random.seed(args.seed)
    # The same config construction mlx_vlm.utils.load_model does.
    cfg = json.loads(json.dumps(config))
    cfg.setdefault("text_config", {})
    cfg.setdefault("audio_config", {})
    model_config = qwen2_vl.ModelConfig.from_dict(cfg)
    model_config = update_module_configs(model_config, qwen2_vl, cfg, ["text", "vision"])
    model = qwen2_vl.Model(model_config)
    # Spread the logits (std ~4) and pin <|im_end|> at exactly 0.
    eos = ids["<|im_end|>"]
    head = mx.random.normal((vocab, args.hidden)) * (4.0 / (args.hidden ** 0.5))
    mask = mx.ones((vocab, 1))
    mask[eos] = 0.0
    model.language_model.lm_head.weight = head * mask
    weights = dict(tree_flatten(model.parameters()))
    mx.save_safetensors(str(out / "model.safetensors"), weights, metadata={"format": "mlx"})
    (out / "config.json").write_text(json.dumps(config, indent=2))
    (out / "generation_config.json").write_text(
        json.dumps({"bos_token_id": ids["<|endoftext|>"], "eos_token_id": eos}, indent=2)
    )
    (out / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "image_processor_type": "Qwen2VLImageProcessor",
                "processor_class": "Qwen2VLProcessor",
                "patch_size": 14,
                "temporal_patch_size": 2,
                "merge_size": 2,
                "min_pixels": 56 * 56,
                # 1 MP: a 1024x1024 image is 1 369 image tokens; larger ones are scaled down.
                "max_pixels": 1024 * 1024,
                "image_mean": [0.48145466, 0.4578275, 0.40821073],
                "image_std": [0.26862954, 0.26130258, 0.27577711],
                "do_rescale": True,
                "rescale_factor": 1 / 255,
                "do_normalize": True,
                "do_convert_rgb": True,
            },
            indent=2,
        )
    )


def loads(out: Path) -> bool:
    """True when mlx_vlm loads OUT and its processor turns an image into tokens."""
    try:
        from mlx_vlm import load
        from PIL import Image

        model, processor = load(str(out))
        prompt = processor.apply_chat_template(
            [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hi"}]}],
            add_generation_prompt=True,
            tokenize=False,
        )
        inputs = processor(text=[prompt], images=[Image.new("RGB", (56, 56))])
        return inputs["pixel_values"] is not None and model is not None
    except Exception as exc:  # a broken or partial folder is rebuilt
        print(f"tiny VLM at {out} does not load ({type(exc).__name__}: {exc}); rebuilding", file=sys.stderr)
        return False


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--vocab", type=int, default=2048)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    out = args.out
    if (out / "config.json").exists() and (out / "model.safetensors").exists() and loads(out):
        print(f"tiny VLM already present: {out}")
        return 0
    tmp = out.with_name(out.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    vocab, ids = build_tokenizer(tmp, args.vocab, args.seed)
    build_weights(tmp, args, vocab, ids)
    if not loads(tmp):
        print(f"error: the tiny VLM built in {tmp} does not load with mlx_vlm", file=sys.stderr)
        return 1
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    print(f"tiny VLM written: {out} (qwen2_vl, vocab {vocab}, hidden {args.hidden}, layers {args.layers})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
