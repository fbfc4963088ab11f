"""CheXbert (Smit et al. 2020): BERT + 14 linear heads on the [CLS] state, from a local checkpoint.

The checkpoint is the public `chexbert.pth` layout: a dict whose `model_state_dict` comes from a
DataParallel model (keys `module.bert.*`, `module.linear_heads.{0..13}.*`). It was saved with
transformers 2.5.1 and so lacks `bert.embeddings.position_ids`; checkpoints from transformers 3-4.30
have it. That one key is tolerated either way; any other missing or unexpected key is an error that
names them. The BERT shape (hidden size, layers, vocab, positions) is read from the tensors; heads
are hidden/64 as in every BERT release, so bert-base-uncased's 768 gives 12 heads.

Text handling follows CheXbert's `label.py`: strip, newlines to spaces, collapse whitespace; an empty
report becomes [CLS][SEP]; past 512 tokens keep the first 511 and append [SEP]. The tokenizer is
bert-base-uncased's, which must be on local disk (nothing is downloaded): pass its directory.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from transformers import AutoTokenizer, BertConfig, BertModel

from radrl_dist.constants import NUM_OBSERVATIONS
from radrl_dist.labelers.base import Labeler, as_text
from radrl_dist.models.text_batches import padded_batches

MAX_TOKENS = 512
TOLERATED_KEYS = frozenset({"bert.embeddings.position_ids"})
_WS = re.compile(r"\s+")


class CheXbertModel(nn.Module):
    """Same module names as CheXbert's `bert_labeler`, so its state dict loads unchanged."""

    def __init__(self, config: BertConfig, p: float = 0.1) -> None:
        super().__init__()
        self.bert = BertModel(config)
        self.dropout = nn.Dropout(p)
        hidden = config.hidden_size
        self.linear_heads = nn.ModuleList([nn.Linear(hidden, 4) for _ in range(NUM_OBSERVATIONS - 1)])
        self.linear_heads.append(nn.Linear(hidden, 2))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> list[torch.Tensor]:
        cls = self.bert(input_ids, attention_mask=attention_mask)[0][:, 0, :]
        cls = self.dropout(cls)
        return [head(cls) for head in self.linear_heads]


def clean_report(text: str) -> str:
    """CheXbert's cleaning: strip, newlines to spaces, collapse whitespace."""
    return _WS.sub(" ", as_text(text).strip().replace("\n", " ")).strip()


def encode_reports(texts: Sequence[str], tokenizer) -> list[list[int]]:
    """Token ids per report, CheXbert's way (empty -> [CLS][SEP]; > 512 -> first 511 + [SEP]).
    One batched call to the fast tokenizer: the same ids as CheXbert's tokenize-then-encode."""
    cleaned = [clean_report(t) for t in texts]
    if not cleaned:
        return []
    out = []
    for ids in tokenizer(cleaned, add_special_tokens=True, truncation=False, verbose=False)["input_ids"]:
        if len(ids) > MAX_TOKENS:
            ids = ids[: MAX_TOKENS - 1] + [tokenizer.sep_token_id]
        out.append(list(ids))
    return out


def config_from_state(state: dict[str, torch.Tensor], path: str) -> BertConfig:
    """The BERT config implied by the tensors (heads = hidden / 64, as all BERT sizes have)."""
    try:
        vocab, hidden = state["bert.embeddings.word_embeddings.weight"].shape
        positions = state["bert.embeddings.position_embeddings.weight"].shape[0]
        types = state["bert.embeddings.token_type_embeddings.weight"].shape[0]
        inter = state["bert.encoder.layer.0.intermediate.dense.weight"].shape[0]
    except KeyError as exc:
        raise ValueError(f"{path}: not a CheXbert checkpoint, missing key {exc.args[0]!r} (after removing 'module.')") from exc
    layers = len({k.split(".")[3] for k in state if k.startswith("bert.encoder.layer.")})
    return BertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers,
                      num_attention_heads=max(1, hidden // 64), intermediate_size=inter,
                      max_position_embeddings=positions, type_vocab_size=types)


def load_chexbert(path: str | Path, device: str = "cpu") -> CheXbertModel:
    """Model from a chexbert.pth-layout file; wrong layouts fail naming the keys at fault."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CheXbert checkpoint {path} not found")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or "model_state_dict" not in ckpt:
        keys = list(ckpt)[:5] if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ValueError(f"{path}: expected a dict with 'model_state_dict' (chexbert.pth layout), got {keys}")
    state = {k.removeprefix("module."): v for k, v in ckpt["model_state_dict"].items()}
    model = CheXbertModel(config_from_state(state, str(path)))
    expected = set(model.state_dict())
    missing = sorted(expected - set(state) - TOLERATED_KEYS)
    unexpected = sorted(set(state) - expected - TOLERATED_KEYS)
    if missing or unexpected:
        raise ValueError(f"{path}: checkpoint does not match CheXbert: missing keys {missing[:20]}"
                         f"{' ...' if len(missing) > 20 else ''}; unexpected keys {unexpected[:20]}")
    model.load_state_dict({k: v for k, v in state.items() if k in expected}, strict=True)
    return model.to(device).eval()


def find_tokenizer_dir(checkpoint: Path, tokenizer: str | None) -> Path:
    """The tokenizer dir: given, else `tokenizer/` beside the checkpoint, else the checkpoint's dir."""
    names = ("tokenizer.json", "vocab.txt")
    candidates = [Path(tokenizer)] if tokenizer else [checkpoint.parent / "tokenizer", checkpoint.parent]
    for c in candidates:
        if c.is_dir() and any((c / n).is_file() for n in names):
            return c
    raise FileNotFoundError(
        f"CheXbert needs the bert-base-uncased tokenizer on local disk; none found at "
        f"{', '.join(map(str, candidates))}. Pass its directory (with vocab.txt or tokenizer.json) "
        f"as tokenizer= / --tokenizer DIR")


def checkpoint_digest(path: str | Path) -> str:
    """First 12 hex digits of the file's SHA-256: names a labeller/scorer version by its weights."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:12]


class CheXbertLabeler(Labeler):
    """Batched CheXbert inference. Loads lazily and drops the model when pickled (Ray-friendly)."""

    def __init__(self, checkpoint: str | Path, tokenizer: str | None = None, device: str = "cpu",
                 batch_size: int = 32) -> None:
        self.checkpoint = Path(checkpoint)
        if not self.checkpoint.is_file():
            raise FileNotFoundError(f"CheXbert checkpoint {self.checkpoint} not found")
        self.tokenizer_dir = find_tokenizer_dir(self.checkpoint, tokenizer)
        self.device, self.batch_size = device, int(batch_size)
        self._model: CheXbertModel | None = None
        self._tok = None
        self._version: str | None = None

    @property
    def name(self) -> str:
        return "chexbert"

    @property
    def version(self) -> str:
        if self._version is None:  # hashed once: the real checkpoint is 440 MB
            self._version = f"chexbert-{checkpoint_digest(self.checkpoint)}"
        return self._version

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_model": None, "_tok": None}

    def _load(self) -> None:
        if self._model is None:
            self._tok = AutoTokenizer.from_pretrained(str(self.tokenizer_dir), local_files_only=True)
            self._model = load_chexbert(self.checkpoint, self.device)

    @torch.inference_mode()
    def label(self, texts: Sequence[str]) -> np.ndarray:
        self._load()
        ids = encode_reports(texts, self._tok)
        out = np.zeros((len(ids), NUM_OBSERVATIONS), dtype=np.int8)
        for idx, batch, mask in padded_batches(ids, self.batch_size, self._tok.pad_token_id or 0):
            logits = self._model(batch.to(self.device), mask.to(self.device))
            out[idx] = torch.stack([lg.argmax(dim=1) for lg in logits], dim=1).cpu().numpy()
        return out
