"""Tiny random-weight stand-ins for the scorers' published checkpoints (tests, smoke runs; no download).

- `build_tiny_roberta(dir)`: distilroberta-base's layout, i.e. a RobertaForMaskedLM saved with
  `save_pretrained` (keys `roberta.*`, `lm_head.*`; AutoModel strips the prefix as it does for the
  real one), 6 layers, byte-level BPE tokenizer (vocab.json + merges.txt) trained on report text.
- the CheXbert stand-in is `radrl_dist.labelers.tiny_chexbert.build_tiny_chexbert` (chexbert.pth layout).
`ensure_tiny_model_rewards(dir)` builds both once (atomically: several actors may race) and returns
their paths. Weights are random: scores are meaningless, every code path of the real ones runs.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from tokenizers import ByteLevelBPETokenizer
from transformers import RobertaConfig, RobertaForMaskedLM, RobertaTokenizer

from radrl_dist.labelers.tiny_chexbert import _EXTRA_TEXT, build_tiny_chexbert
from radrl_dist.models.corpus import corpus_lines


def build_tiny_roberta(out_dir: str | Path, seed: int = 0, hidden: int = 32, layers: int = 6) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(corpus_lines() + list(_EXTRA_TEXT) * 3, vocab_size=600, min_frequency=2,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"], show_progress=False)
    bpe.save_model(str(out))
    vocab = json.loads((out / "vocab.json").read_text())
    merges = [tuple(x.split()) for x in (out / "merges.txt").read_text().splitlines()[1:] if x.strip()]
    # transformers 5 ignores vocab_file=/merges_file=; vocab=/merges= are the arguments that work
    tok = RobertaTokenizer(vocab=vocab, merges=merges, model_max_length=512)
    if tok.vocab_size != len(vocab):
        raise RuntimeError(f"tokenizer has {tok.vocab_size} entries, expected {len(vocab)}")
    tok.save_pretrained(str(out))
    cfg = RobertaConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
                        intermediate_size=2 * hidden, max_position_embeddings=514, type_vocab_size=1,
                        pad_token_id=1, bos_token_id=0, eos_token_id=2)
    with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG
        torch.manual_seed(seed)
        model = RobertaForMaskedLM(cfg)
    model.save_pretrained(str(out))
    return out


def ensure_tiny_model_rewards(cache_dir: str | Path, seed: int = 0) -> dict[str, str]:
    """{"bertscore_model": dir, "chexbert": chexbert.pth} under `cache_dir`, built once."""
    root = Path(cache_dir) / f"tiny_model_rewards_s{seed}"
    paths = {"bertscore_model": str(root / "roberta"), "chexbert": str(root / "chexbert" / "chexbert.pth")}
    if (root / "DONE").is_file():
        return paths
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=root.parent))
    try:
        build_tiny_roberta(tmp / "roberta", seed=seed)
        build_tiny_chexbert(tmp / "chexbert", seed=seed)
        (tmp / "DONE").write_text("ok\n")
        try:
            os.rename(tmp, root)
        except OSError:  # another process finished first; theirs is identical
            if not (root / "DONE").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return paths
