#!/usr/bin/env python3
"""Write the tiny random-weight Llama model (models/tiny-llama, see
make_tiny_model.py) as a GGUF file for llama.cpp's llama-server.

llama.cpp's own converter (convert_hf_to_gguf.py) is not used: it imports
torch (a 500+ MB wheel plus CUDA dependencies on Linux) and rejects BPE
tokenizers whose pre-tokenizer hash it does not know, which includes this
locally trained one. The model is simple enough to write directly with the
`gguf` package: the copy in the llama-cpp-python sdist that
build-llama-server.sh unpacked (same version as the server), else an installed
`gguf`, else `pip install gguf` into the running interpreter's environment.

What it writes (architecture "llama"):
  * weights as in the safetensors file (F32 or BF16 read; written as f32, or
    f16 for 2-D weights with --outtype f16), with q_proj/k_proj rows permuted
    from the HF/MLX rotate-half RoPE layout to llama.cpp's, like the converter;
  * the byte-level BPE tokenizer: tokenizer.ggml.model "gpt2", pre-tokenizer
    "gpt-2" (the ByteLevel regex), tokens, token types (specials are CONTROL),
    merges, bos/eos/pad ids, add_bos=false (the chat template emits BOS itself,
    as with mlx_lm), and the Jinja chat template from tokenizer_config.json.

Usage: make_tiny_gguf.py [SRC_DIR] [OUT_FILE] [--outtype f32|f16] [--force]
       (defaults: models/tiny-llama -> models/tiny-llama.gguf, repo-relative)
"""
import argparse
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV_PYTHON = REPO / ".mlxrun" / "venv" / "bin" / "python"

try:
    import numpy as np
except ImportError:  # re-run under mlxrun's venv, which has numpy
    if VENV_PYTHON.exists() and not os.environ.get("MAKE_TINY_GGUF_REEXEC"):
        os.environ["MAKE_TINY_GGUF_REEXEC"] = "1"
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), __file__, *sys.argv[1:]])
    raise


def import_gguf():
    sdists = sorted((REPO / ".mlxrun" / "llama.cpp" / "src").glob("llama_cpp_python-*/vendor/llama.cpp/gguf-py"))
    if sdists:
        sys.path.insert(0, str(sdists[-1]))
    try:
        import gguf
    except ImportError:
        print("make_tiny_gguf: installing the `gguf` package from PyPI", file=sys.stderr)
        subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet",
                               "--disable-pip-version-check", "gguf"])
        import gguf
    return gguf


def read_safetensors(path: Path):
    """Minimal reader (F32/F16/BF16) so no torch or bf16-aware numpy is needed."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        raw, shape, dtype = data[a:b], info["shape"], info["dtype"]
        if dtype == "F32":
            arr = np.frombuffer(raw, dtype="<f4")
        elif dtype == "F16":
            arr = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif dtype == "BF16":
            arr = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise SystemExit(f"make_tiny_gguf: unsupported dtype {dtype} for {name}")
        out[name] = arr.reshape(shape).astype(np.float32)
    return out


def permute_rope(w, n_head: int):
    # Same as convert_hf_to_gguf.py LlamaModel.permute: HF/MLX rotate-half
    # order -> llama.cpp's interleaved-pair order, per head.
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src", type=Path, nargs="?", default=REPO / "models" / "tiny-llama")
    p.add_argument("out", type=Path, nargs="?", default=REPO / "models" / "tiny-llama.gguf")
    p.add_argument("--outtype", choices=["f32", "f16"], default="f32")
    p.add_argument("--force", action="store_true", help="rewrite OUT_FILE even if it exists")
    args = p.parse_args()
    src, out = args.src, args.out
    if out.exists() and not args.force:
        print(f"tiny gguf already present: {out}")
        return 0

    gguf = import_gguf()
    cfg = json.loads((src / "config.json").read_text())
    tok_json = json.loads((src / "tokenizer.json").read_text())
    tok_cfg_path = src / "tokenizer_config.json"
    tok_cfg = json.loads(tok_cfg_path.read_text()) if tok_cfg_path.exists() else {}

    hidden = cfg["hidden_size"]
    n_layers = cfg["num_hidden_layers"]
    n_head = cfg["num_attention_heads"]
    n_head_kv = cfg.get("num_key_value_heads", n_head)
    head_dim = cfg.get("head_dim", hidden // n_head)
    vocab_size = cfg["vocab_size"]

    # --- tokenizer -------------------------------------------------------
    model = tok_json["model"]
    if model.get("type") != "BPE":
        raise SystemExit(f"make_tiny_gguf: expected a BPE tokenizer, got {model.get('type')}")
    id_to_tok = {i: t for t, i in model["vocab"].items()}
    special_ids = set()
    for added in tok_json.get("added_tokens", []):
        id_to_tok[added["id"]] = added["content"]
        if added.get("special"):
            special_ids.add(added["id"])
    n_vocab = max(vocab_size, max(id_to_tok) + 1)
    tokens, toktypes = [], []
    for i in range(n_vocab):
        if i in id_to_tok:
            tokens.append(id_to_tok[i])
            toktypes.append(gguf.TokenType.CONTROL if i in special_ids else gguf.TokenType.NORMAL)
        else:
            tokens.append(f"[PAD{i}]")
            toktypes.append(gguf.TokenType.UNUSED)
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]

    def special_id(key: str, fallback):
        name = tok_cfg.get(key)
        if isinstance(name, dict):
            name = name.get("content")
        if name is not None and name in model["vocab"]:
            return model["vocab"][name]
        for added in tok_json.get("added_tokens", []):
            if added["content"] == name:
                return added["id"]
        return fallback

    bos = special_id("bos_token", cfg.get("bos_token_id"))
    eos = special_id("eos_token", cfg.get("eos_token_id"))
    pad = special_id("pad_token", eos)

    # --- writer ----------------------------------------------------------
    arch = gguf.MODEL_ARCH.LLAMA
    tmp = out.with_name(out.name + ".partial")
    out.parent.mkdir(parents=True, exist_ok=True)
    w = gguf.GGUFWriter(str(tmp), gguf.MODEL_ARCH_NAMES[arch])
    w.add_name(src.name)
    w.add_context_length(cfg.get("max_position_embeddings", 4096))
    w.add_embedding_length(hidden)
    w.add_block_count(n_layers)
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(n_head)
    w.add_head_count_kv(n_head_kv)
    w.add_layer_norm_rms_eps(cfg.get("rms_norm_eps", 1e-5))
    w.add_rope_freq_base(cfg.get("rope_theta", 10000.0))
    w.add_rope_dimension_count(head_dim)
    w.add_key_length(head_dim)
    w.add_value_length(head_dim)
    w.add_vocab_size(n_vocab)
    w.add_file_type(gguf.LlamaFileType.ALL_F32 if args.outtype == "f32" else gguf.LlamaFileType.MOSTLY_F16)

    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(tokens)
    w.add_token_types(toktypes)
    w.add_token_merges(merges)
    if bos is not None:
        w.add_bos_token_id(bos)
    if eos is not None:
        w.add_eos_token_id(eos)
    if pad is not None:
        w.add_pad_token_id(pad)
    w.add_add_bos_token(False)
    w.add_add_eos_token(False)
    if tok_cfg.get("chat_template"):
        w.add_chat_template(tok_cfg["chat_template"])

    names = gguf.get_tensor_name_map(arch, n_layers)
    tensors = read_safetensors(src / "model.safetensors")
    for hf_name in sorted(tensors):
        data = tensors[hf_name]
        if hf_name.endswith("self_attn.q_proj.weight"):
            data = permute_rope(data, n_head)
        elif hf_name.endswith("self_attn.k_proj.weight"):
            data = permute_rope(data, n_head_kv)
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise SystemExit(f"make_tiny_gguf: no GGUF name for tensor {hf_name}")
        if args.outtype == "f16" and data.ndim == 2:
            data = data.astype(np.float16)
        w.add_tensor(name, np.ascontiguousarray(data))

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    tmp.replace(out)
    print(f"tiny gguf written: {out} ({out.stat().st_size} bytes, vocab {n_vocab}, "
          f"hidden {hidden}, layers {n_layers}, {args.outtype})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
