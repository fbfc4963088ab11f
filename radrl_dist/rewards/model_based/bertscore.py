"""BERTScore F1 (Zhang et al. 2020) the way RadCliQ computes it: distilroberta-base, layer 5, no idf,
rescaled with bert-score's published baseline for that model and layer.

Our own short implementation of bert-score 0.3.13 (tested against the package on a tiny model):
the encoder is cut after `num_layers` layers, token embeddings are L2-normalised, each candidate
token takes its best cosine over the reference tokens (precision) and vice versa (recall); [CLS]
and [SEP] carry idf weight 0 but stay matchable, as in bert-score. A side with no tokens scores raw
0. Why not call the package: with transformers 5 it silently drops RoBERTa's `add_prefix_space`,
which changes the first token of every sentence and so the baseline no longer fits; here the
tokenizer is loaded with `add_prefix_space=True`, as bert-score did with transformers 4.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import AutoConfig, AutoModel, AutoTokenizer

from radrl_dist.models.text_batches import padded_batches
from radrl_dist.rewards.model_based.base import PairScorer, check_pairs

DISTILROBERTA_LAYER = 5
# bert_score/rescale_baseline/en/distilroberta-base.tsv, row LAYER=5: P, R, F
DISTILROBERTA_BASELINE = (0.84732, 0.84759504, 0.8473319)
_PREFIX_SPACE_MODELS = ("roberta", "gpt2", "bart", "longformer")


def read_baseline(path: str | Path, layer: int) -> tuple[float, float, float]:
    """(P, R, F) of `layer` from a bert-score baseline file (header LAYER,P,R,F)."""
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            if int(row["LAYER"]) == layer:
                return float(row["P"]), float(row["R"]), float(row["F"])
    raise ValueError(f"{path}: no baseline row for layer {layer}")


def check_model_dir(model_dir: str | Path, what: str) -> Path:
    d = Path(model_dir)
    if not (d.is_dir() and (d / "config.json").is_file()):
        raise FileNotFoundError(
            f"{what} needs a local Hugging Face model directory (config.json, weights, tokenizer files); "
            f"none at {d}. Save the published checkpoint there (e.g. `save_pretrained`), nothing is downloaded.")
    return d


class BertScore(PairScorer):
    """Parts: value (= rescaled F1), precision, recall (rescaled the same way)."""

    name = "bertscore"

    def __init__(self, model_dir: str | Path, num_layers: int = DISTILROBERTA_LAYER,
                 baseline: Sequence[float] | str | None = DISTILROBERTA_BASELINE, device: str = "cpu",
                 batch_size: int = 64) -> None:
        self.model_dir = check_model_dir(model_dir, "BERTScore")
        self.num_layers, self.device, self.batch_size = int(num_layers), device, int(batch_size)
        if isinstance(baseline, (str, Path)):
            baseline = read_baseline(baseline, self.num_layers)
        self.baseline = None if baseline is None else tuple(float(x) for x in baseline)
        self._model = self._tok = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_model": None, "_tok": None}

    @property
    def version(self) -> str:
        """Layer, baseline and the first MiB of each weight file (cheap, and enough to tell models apart)."""
        h = hashlib.sha256(f"{self.baseline}|{self.num_layers}".encode())
        for f in sorted(self.model_dir.glob("*.safetensors")) + sorted(self.model_dir.glob("*.bin")):
            with open(f, "rb") as fh:
                h.update(fh.read(1 << 20))
        return f"bertscore-L{self.num_layers}-{h.hexdigest()[:12]}"

    def _load(self) -> None:
        if self._model is not None:
            return
        d = str(self.model_dir)
        cfg = AutoConfig.from_pretrained(d, local_files_only=True)
        kw = {"add_prefix_space": True} if cfg.model_type in _PREFIX_SPACE_MODELS else {}
        self._tok = AutoTokenizer.from_pretrained(d, local_files_only=True, **kw)
        kw = {"add_pooling_layer": False} if cfg.model_type in ("bert", "roberta") else {}
        model = AutoModel.from_pretrained(d, local_files_only=True, **kw)  # the pooler is never used
        layers = model.encoder.layer
        if not 1 <= self.num_layers <= len(layers):
            raise ValueError(f"BERTScore: num_layers {self.num_layers} but {d} has {len(layers)} layers")
        model.encoder.layer = torch.nn.ModuleList(list(layers)[: self.num_layers])
        self._model = model.to(self.device).eval()

    def _encode(self, text: str) -> list[int]:
        tok, text = self._tok, text.strip()
        if not text:
            return [tok.cls_token_id, tok.sep_token_id]
        return tok(text, add_special_tokens=True, max_length=tok.model_max_length, truncation=True)["input_ids"]

    def embed(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Per text: (ids int64 [T], L2-normalised layer embeddings float32 [T, D])."""
        self._load()
        ids = [self._encode(t) for t in texts]
        out: list = [None] * len(ids)
        with torch.inference_mode():
            for idx, x, mask in padded_batches(ids, self.batch_size, self._tok.pad_token_id):
                h = self._model(x.to(self.device), attention_mask=mask.to(self.device))[0].float()
                h = h / h.norm(dim=-1, keepdim=True)
                for r, i in enumerate(idx):
                    out[i] = (np.asarray(ids[i]), h[r, : len(ids[i])].cpu().numpy())
        return out

    def raw(self, candidates: Sequence[str], references: Sequence[str]) -> np.ndarray:
        """Unrescaled (P, R, F) per pair, float64 [N, 3]."""
        cands, refs = check_pairs(candidates, references)
        uniq = list(dict.fromkeys(cands + refs))
        emb = dict(zip(uniq, self.embed(uniq))) if uniq else {}
        special = {self._tok.cls_token_id, self._tok.sep_token_id} if uniq else set()
        out = np.zeros((len(cands), 3))
        for n, (c, r) in enumerate(zip(cands, refs)):
            (ci, ce), (ri, re_) = emb[c], emb[r]
            if len(ci) <= 2 or len(ri) <= 2:  # bert-score: an empty side scores raw 0
                continue
            sim = ce.astype(np.float64) @ re_.astype(np.float64).T
            wc = np.array([t not in special for t in ci], dtype=np.float64)
            wr = np.array([t not in special for t in ri], dtype=np.float64)
            p = float((sim.max(axis=1) * wc).sum() / wc.sum())
            rec = float((sim.max(axis=0) * wr).sum() / wr.sum())
            out[n] = (p, rec, 2 * p * rec / (p + rec) if p + rec else 0.0)
        return out

    def score_parts(self, candidates: Sequence[str], references: Sequence[str]) -> dict[str, np.ndarray]:
        prf = self.raw(candidates, references)
        if self.baseline is not None:
            b = np.asarray(self.baseline)
            prf = (prf - b) / (1 - b)
        return {"value": prf[:, 2], "precision": prf[:, 0], "recall": prf[:, 1]}
