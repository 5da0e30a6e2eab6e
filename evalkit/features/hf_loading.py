"""Loading transformers models and CLIP tokenizers offline-first, with one clear error."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import MissingDependencyError, MissingWeightsError
from ..weights import resolve_hf


def import_transformers():
    """transformers, after making torchvision importable (see evalkit.compat)."""
    from ..compat import ensure_torchvision

    ensure_torchvision()
    try:
        import transformers
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise MissingDependencyError(f"transformers is needed for model backends ({exc}); "
                                     "install evalkit[ml]") from None
    return transformers


def load_pretrained(cls_name: str, model_id: str, device: str, dtype: str, **kwargs: Any):
    """``transformers.<cls_name>.from_pretrained`` from the resolved local folder, eval mode,
    weights in ``dtype``'s storage type (evalkit.features.precision), fused attention (SDPA:
    flash or memory-efficient kernels on a GPU; transformers' default, named so it stays so)."""
    from .precision import weights_dtype

    transformers = import_transformers()
    folder = resolve_hf(model_id)
    cls = getattr(transformers, cls_name)
    try:
        model = cls.from_pretrained(str(folder), local_files_only=True, attn_implementation="sdpa", **kwargs)
    except (OSError, ValueError) as exc:
        raise MissingWeightsError(
            f"{model_id}: could not load {cls_name} from {folder} ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    model = model.to(device=device, dtype=weights_dtype(dtype)).eval()
    model.requires_grad_(False)
    return model


def load_clip_tokenizer(model_id: str):
    """The CLIPTokenizer saved beside the model weights (vocab.json + merges.txt)."""
    transformers = import_transformers()
    folder = resolve_hf(model_id, what="tokenizer")
    try:
        return transformers.CLIPTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, TypeError) as exc:
        raise MissingWeightsError(f"{model_id}: no CLIP tokenizer files (vocab.json, merges.txt) in {folder} "
                                  f"({type(exc).__name__})") from None


def clip_tokenizer_from_bpe(bpe_path: str | Path | None = None):
    """An exact CLIP BPE tokenizer built from open_clip's ``bpe_simple_vocab_16e6.txt.gz``.

    For tests and random-weight benchmarks, where no hub tokenizer files exist. The vocabulary
    follows OpenAI CLIP's ``simple_tokenizer``: 256 byte symbols, the same with ``</w>``,
    one entry per merge, then the two special tokens (49408 in all).
    """
    import gzip
    import importlib.util

    transformers = import_transformers()
    if bpe_path is None:
        spec = importlib.util.find_spec("open_clip")
        if spec is None or not spec.submodule_search_locations:
            raise MissingDependencyError("open_clip is needed for its bundled BPE vocabulary "
                                         "(bpe_simple_vocab_16e6.txt.gz); pass bpe_path")
        bpe_path = Path(list(spec.submodule_search_locations)[0]) / "bpe_simple_vocab_16e6.txt.gz"
    lines = gzip.open(bpe_path, "rt", encoding="utf-8").read().split("\n")
    merges = lines[1:49152 - 256 - 2 + 1]  # header line skipped; CLIP keeps 48894 merges
    symbols = list(_bytes_to_unicode().values())
    vocab_list = symbols + [s + "</w>" for s in symbols] + ["".join(m.split()) for m in merges]
    vocab_list += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {tok: i for i, tok in enumerate(vocab_list)}
    return transformers.CLIPTokenizer(vocab=vocab, merges=[tuple(m.split()) for m in merges])


def _bytes_to_unicode() -> dict[int, str]:
    # GPT-2 / CLIP reversible byte -> printable unicode table (printable bytes map to themselves)
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def tokenize(tokenizer, texts: list[str], device: str):
    enc = tokenizer(list(texts), padding="max_length", max_length=77, truncation=True, return_tensors="pt")
    return enc["input_ids"].to(device), enc["attention_mask"].to(device)
