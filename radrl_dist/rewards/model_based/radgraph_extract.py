"""Entity/relation extractors for RadGraph F1, returning the `radgraph` package's output format.

- `RadGraphPackageExtractor` ("radgraph:DIR"): the package's model, from a local directory only.
- `LexiconExtractor` ("lexicon"): a small rule stand-in for tests and smoke runs. NOT RadGraph; its
  F1 is not comparable with published RadGraph numbers.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from radrl_dist.rewards.model_based.radgraph import Annotation


class RadGraphPackageExtractor:
    """The `radgraph` package's model, loaded from a local directory only (HF_HUB_OFFLINE=1)."""

    def __init__(self, model_dir: str | Path, model_type: str = "radgraph", device: str = "cpu") -> None:
        self.model_dir, self.model_type, self.device = Path(model_dir), model_type, device
        self.name = f"radgraph:{model_type}"
        self._model = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_model": None}

    def _load(self):
        try:
            from radgraph import RadGraph  # lazy: radgraph, only for the model extractor (the lexicon one needs none)
        except ImportError as exc:
            raise ImportError(
                "RadGraph F1 needs the 'radgraph' package (pip install radgraph, check it does not replace "
                f"torch) and the RadGraph checkpoint in a local directory ({self.model_dir}); or set "
                "reward.model_rewards.radgraph=lexicon for a test stand-in") from exc
        if not self.model_dir.is_dir():
            raise FileNotFoundError(
                f"RadGraph checkpoint directory {self.model_dir} not found: put the `radgraph` package's model "
                f"files for model_type {self.model_type!r} (StanfordAIMI RRG_scorers radgraph archive, as the "
                "package caches it) there; nothing is downloaded")
        os.environ["HF_HUB_OFFLINE"] = "1"
        try:  # radgraph 0.1.x API (model_type "radgraph" is the model RadCliQ-v1 was fitted with)
            self._model = RadGraph(model_type=self.model_type, model_cache_dir=str(self.model_dir),
                                   tokenizer_cache_dir=str(self.model_dir), cuda=0 if self.device == "cuda" else -1)
        except TypeError as exc:
            raise RuntimeError(f"this `radgraph` package version does not take model_type/model_cache_dir "
                               f"({exc}); use a radgraph 0.1.x release that does") from exc
        return self._model

    def extract(self, texts: Sequence[str]) -> list[Annotation]:
        model = self._model or self._load()
        out = model(list(texts))
        return [out.get(str(i), {"entities": {}}) for i in range(len(texts))]


_ANAT = {"lung", "lungs", "heart", "pleural", "lobe", "base", "bases", "apex", "apical", "mediastinum",
         "mediastinal", "cardiac", "silhouette", "hilar", "rib", "costophrenic", "angle", "carina", "zone"}
_OBS = {"effusion", "pneumothorax", "consolidation", "opacity", "edema", "atelectasis", "pneumonia",
        "cardiomegaly", "nodule", "fracture", "enlarged", "clear", "normal", "tube", "catheter", "lesion"}
_MOD = {"left", "right", "small", "large", "mild", "moderate", "severe", "upper", "lower", "bilateral"}
_NEG = {"no", "without", "not", "negative", "free"}
_UNC = {"may", "possible", "cannot", "likely", "suggest", "questionable"}


class LexiconExtractor:
    """Test stand-in (NOT RadGraph): words of a small lexicon become entities (ANAT-DP, OBS-DP/-DA/-U,
    by negation or uncertainty cue earlier in the sentence); modifiers `modify` the next entity and
    each observation is `located_at` the nearest anatomy word of its sentence."""

    name = "lexicon"

    def extract(self, texts: Sequence[str]) -> list[Annotation]:
        return [self._one(t) for t in texts]

    @staticmethod
    def _one(text: str) -> Annotation:
        ents: dict[str, dict] = {}
        for sent in re.split(r"[.;\n]", text.lower()):
            words = re.findall(r"[a-z]+", sent)
            ids, neg, unc, mods = [], False, False, []
            for w in words:
                neg, unc = neg or w in _NEG, unc or w in _UNC
                if w in _MOD:
                    mods.append(w)
                    continue
                if w not in _ANAT and w not in _OBS:
                    continue
                key = str(len(ents) + 1)
                lab = "ANAT-DP" if w in _ANAT else ("OBS-DA" if neg else "OBS-U" if unc else "OBS-DP")
                ents[key] = {"tokens": w, "label": lab, "relations": []}
                for m in mods:
                    mk = str(len(ents) + 1)
                    ents[mk] = {"tokens": m, "label": "OBS-DP" if lab != "ANAT-DP" else "ANAT-DP",
                                "relations": [["modify", key]]}
                mods = []
                ids.append(key)
            anat = [k for k in ids if ents[k]["label"] == "ANAT-DP"]
            for k in ids:
                if anat and ents[k]["label"] != "ANAT-DP":
                    near = min(anat, key=lambda a: abs(int(a) - int(k)))
                    ents[k]["relations"].append(["located_at", near])
        return {"text": text, "entities": ents}


def build_extractor(spec: str, device: str = "cpu"):
    """'radgraph:DIR' (optionally 'radgraph:DIR:MODEL_TYPE') or 'lexicon'."""
    kind, _, arg = (spec or "").partition(":")
    if kind == "lexicon":
        return LexiconExtractor()
    if kind == "radgraph" and arg:
        path, _, mtype = arg.partition("::")
        return RadGraphPackageExtractor(path, mtype or "radgraph", device)
    raise ValueError(f"RadGraph extractor spec must be 'radgraph:/path/to/model_dir' or 'lexicon', got {spec!r}")
