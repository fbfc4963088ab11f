"""Per-candidate NLG rewards (MRG-R1's "+NLG" ablation): `f(candidates, references) -> float64[N]`.

All use pycocoevalcap's tokenisation (`radrl_dist.metrics.ptb_tokenize`) and its formulas:
- `bleu4`: pycocoevalcap's *sentence* BLEU-4 of each pair (its per-image score, "closest" length;
  unsmoothed apart from its 1e-15 guard, so a candidate with no matching 4-gram scores about 1e-4,
  not a smoothed value). In [0, 1].
- `rouge_l`: pycocoevalcap ROUGE-L (LCS F-measure, beta 1.2). In [0, 1].
- `cider_d`: CIDEr-D (clipped n-gram tf-idf cosine, Gaussian length penalty sigma 6, x10), scale
  [0, 10]. Document frequencies come from a fixed corpus, never from the batch (a GRPO group shares
  one reference, which would make every idf zero): by default the IU X-Ray reports with even ids
  (the tuning half, see DESIGN 7); `make_cider_d(corpus)` builds one on your training references.
- `gleu`: Google-BLEU (Wu et al. 2016, nltk's sentence_gleu): min(n-gram precision, recall), n 1..4.
Empty (or punctuation-only) candidates score 0; no reward is ever NaN.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache

import numpy as np

from radrl_dist.data.iu_xray_reports import load_reports
from radrl_dist.metrics.nlg import DocFreq, bleu, cider_scores, rouge_l_scores
from radrl_dist.metrics.ptb_tokenize import tokenize
from radrl_dist.rewards.signature import ComponentFn, text_pair_component

log = logging.getLogger(__name__)
RewardFn = Callable[[list[str], list[str]], np.ndarray]


def _prep(candidates: Sequence[str], references: Sequence[str]) -> tuple[list[str], list[list[str]], np.ndarray]:
    if len(candidates) != len(references):
        raise ValueError(f"{len(candidates)} candidates but {len(references)} references")
    cands = [tokenize(c) if isinstance(c, str) else "" for c in candidates]
    refs = [[tokenize(r) if isinstance(r, str) else ""] for r in references]
    empty = np.array([not c.strip() for c in cands], dtype=bool)
    return cands, refs, empty


def _finish(x: np.ndarray, empty: np.ndarray, hi: float) -> np.ndarray:
    x = np.clip(np.nan_to_num(np.asarray(x, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0), 0.0, hi)
    x[empty] = 0.0
    return x


def bleu4(candidates: list[str], references: list[str]) -> np.ndarray:
    """Sentence BLEU-4 per candidate (pycocoevalcap per-image score), in [0, 1]."""
    cands, refs, empty = _prep(candidates, references)
    if not cands:
        return np.zeros(0)
    _, per = bleu(cands, refs, n=4)
    return _finish(per[:, 3], empty, 1.0)


def rouge_l(candidates: list[str], references: list[str]) -> np.ndarray:
    """pycocoevalcap ROUGE-L per candidate, in [0, 1]."""
    cands, refs, empty = _prep(candidates, references)
    return _finish(rouge_l_scores(cands, refs), empty, 1.0)


def make_cider_d(corpus: Iterable[str]) -> RewardFn:
    """A CIDEr-D reward whose idf comes from `corpus` (raw report texts, one document each)."""
    dfreq = DocFreq.from_corpus([tokenize(t) for t in corpus])

    def cider_d_fixed(candidates: list[str], references: list[str]) -> np.ndarray:
        cands, refs, empty = _prep(candidates, references)
        return _finish(cider_scores(cands, refs, dfreq), empty, 10.0)

    return cider_d_fixed


@lru_cache(maxsize=1)
def _default_cider_d() -> RewardFn | None:
    try:
        texts = [r.text for r in load_reports() if r.report_id % 2 == 0 and r.text]
    except (FileNotFoundError, ValueError, OSError) as exc:
        log.warning("CIDEr-D: IU X-Ray corpus unavailable (%s); idf falls back to each call's references", exc)
        return None
    return make_cider_d(texts)


def cider_d(candidates: list[str], references: list[str]) -> np.ndarray:
    """CIDEr-D per candidate on the x10 scale [0, 10], idf from the IU X-Ray even-id reports (or,
    when that archive is missing, from the distinct references of this call)."""
    fn = _default_cider_d()
    if fn is not None:
        return fn(candidates, references)
    cands, refs, empty = _prep(candidates, references)
    dfreq = DocFreq.from_corpus(sorted({r[0] for r in refs}))
    return _finish(cider_scores(cands, refs, dfreq), empty, 10.0)


def _counts(words: list[str], n: int = 4) -> Counter:
    c: Counter = Counter()
    for k in range(1, n + 1):
        c.update(tuple(words[i : i + k]) for i in range(len(words) - k + 1))
    return c


def gleu(candidates: list[str], references: list[str]) -> np.ndarray:
    """Sentence GLEU (n-grams 1..4): matches / max(candidate n-grams, reference n-grams), in [0, 1]."""
    cands, refs, empty = _prep(candidates, references)
    out = np.zeros(len(cands))
    for i, (c, rs) in enumerate(zip(cands, refs)):
        hc, rc = _counts(c.split()), _counts(rs[0].split())
        denom = max(sum(hc.values()), sum(rc.values()))
        out[i] = sum((hc & rc).values()) / denom if denom else 0.0
    return _finish(out, empty, 1.0)


NLG_REWARDS: dict[str, RewardFn] = {"bleu4": bleu4, "rouge_l": rouge_l, "cider_d": cider_d, "gleu": gleu}
# the same as reward components (of the extracted answer against the reference report); the registry lists these
COMPONENTS: dict[str, ComponentFn] = {name: text_pair_component(fn) for name, fn in NLG_REWARDS.items()}
