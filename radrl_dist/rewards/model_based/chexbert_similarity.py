"""CheXbert embedding cosine ("s_emb" of RadCliQ): cosine of the [CLS] states that the CheXbert
labeler computes for the two reports (last BERT layer, before dropout and the heads).

Same checkpoint, cleaning, truncation and tokenizer as `radrl_dist.labelers.chexbert`, so a run that
labels with CheXbert and scores s_emb uses one model file (`chexbert.pth` layout).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import AutoTokenizer

from radrl_dist.labelers.chexbert import checkpoint_digest, encode_reports, find_tokenizer_dir, load_chexbert
from radrl_dist.models.text_batches import padded_batches
from radrl_dist.rewards.model_based.base import PairScorer, check_pairs, cosine_rows


class CheXbertSimilarity(PairScorer):
    """Parts: value (cosine in [-1, 1])."""

    name = "chexbert_cosine"

    def __init__(self, checkpoint: str | Path, tokenizer: str | None = None, device: str = "cpu",
                 batch_size: int = 32) -> None:
        self.checkpoint = Path(checkpoint)
        if not self.checkpoint.is_file():
            raise FileNotFoundError(f"CheXbert embedding cosine needs the CheXbert checkpoint (chexbert.pth); "
                                    f"none at {self.checkpoint}")
        self.tokenizer_dir = find_tokenizer_dir(self.checkpoint, tokenizer)
        self.device, self.batch_size = device, int(batch_size)
        self._model = self._tok = self._version = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_model": None, "_tok": None}

    @property
    def version(self) -> str:
        if self._version is None:  # hashed once: the real checkpoint is 440 MB
            self._version = f"chexbert-cls-{checkpoint_digest(self.checkpoint)}"
        return self._version

    def _load(self) -> None:
        if self._model is None:
            self._tok = AutoTokenizer.from_pretrained(str(self.tokenizer_dir), local_files_only=True)
            self._model = load_chexbert(self.checkpoint, self.device)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """[CLS] states, float32 [N, hidden]."""
        self._load()
        ids = encode_reports(texts, self._tok)
        out = np.zeros((len(ids), self._model.bert.config.hidden_size), dtype=np.float32)
        with torch.inference_mode():
            for idx, x, mask in padded_batches(ids, self.batch_size, self._tok.pad_token_id or 0):
                h = self._model.bert(x.to(self.device), attention_mask=mask.to(self.device))[0][:, 0, :]
                out[idx] = h.float().cpu().numpy()
        return out

    def score_parts(self, candidates: Sequence[str], references: Sequence[str]) -> dict[str, np.ndarray]:
        cands, refs = check_pairs(candidates, references)
        if not cands:
            return {"value": np.zeros(0)}
        uniq = list(dict.fromkeys(cands + refs))
        e = self.embed(uniq)
        at = {t: i for i, t in enumerate(uniq)}
        return {"value": cosine_rows(e[[at[c] for c in cands]], e[[at[r] for r in refs]])}
