"""A tiny CheXbert-shaped model for tests and benchmarks, built from a seed with no download.

Writes `<out>/chexbert.pth` in the public CheXbert layout (`model_state_dict` with DataParallel
`module.` prefixes, no `position_ids`, as transformers 2.5.1 saved it) and `<out>/tokenizer/`, a
WordPiece vocab made locally from report text plus BERT's special tokens. Hidden size 128 with
head size 64 keeps the shape rule CheXbert's loader uses (heads = hidden / 64). Weights are random:
the labels it emits are meaningless, but every code path of the real labeler runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import torch
from transformers import BertConfig, BertTokenizerFast

from radrl_dist.labelers.chexbert import CheXbertModel
from radrl_dist.models.corpus import SENTENCES

SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
_EXTRA_TEXT = (
    "Heart size normal and lungs are clear. No edema or pneumonia. No effusion.",
    "Left pleural effusion with adjacent atelectasis. Cardiomegaly without overt edema.",
    "Minimal patchy airspace disease in the left lung base, which may reflect atelectasis or consolidation.",
    "Stable mild cardiomegaly. Hyperexpanded but clear lungs. Fracture of the rib. Support devices.",
)


def build_vocab(texts: Iterable[str]) -> list[str]:
    """Deterministic WordPiece vocab: specials, whole words, then single characters and ##chars so
    that any lower-case ASCII text tokenizes without [UNK]."""
    words = sorted({w for t in texts for w in re.findall(r"\w+|[^\w\s]", t.lower())})
    chars = sorted({chr(c) for c in range(33, 127)} | set("".join(words)))
    vocab = list(SPECIAL) + [w for w in words if w not in SPECIAL]
    vocab += [c for c in chars if c not in vocab] + [f"##{c}" for c in chars if c.isalnum()]
    return list(dict.fromkeys(vocab))


def build_tiny_chexbert(out_dir: str | Path, seed: int = 0, hidden: int = 128, layers: int = 2,
                        texts: Iterable[str] | None = None) -> Path:
    """Build, save and return the checkpoint path. Same seed, same bytes of weights."""
    out = Path(out_dir)
    tok_dir = out / "tokenizer"
    tok_dir.mkdir(parents=True, exist_ok=True)
    vocab = build_vocab(list(texts) if texts is not None else [*SENTENCES, *_EXTRA_TEXT])
    vocab_file = tok_dir / "vocab.txt"
    vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    # transformers 5 silently ignores vocab_file=; vocab= is the argument that works
    tok = BertTokenizerFast(vocab=str(vocab_file), do_lower_case=True)
    if tok.vocab_size != len(vocab):
        raise RuntimeError(f"tokenizer has {tok.vocab_size} entries, expected {len(vocab)}")
    tok.save_pretrained(str(tok_dir))
    config = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=max(1, hidden // 64), intermediate_size=2 * hidden,
                        max_position_embeddings=512)
    with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG
        torch.manual_seed(seed)
        model = CheXbertModel(config)
    state = {f"module.{k}": v.clone() for k, v in model.state_dict().items() if not k.endswith("position_ids")}
    path = out / "chexbert.pth"
    torch.save({"epoch": 0, "model_state_dict": state}, path)
    return path


if __name__ == "__main__":
    import sys

    print(build_tiny_chexbert(sys.argv[1] if len(sys.argv) > 1 else "cache/tiny_chexbert"))
