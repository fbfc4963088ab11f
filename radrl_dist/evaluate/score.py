"""`score_predictions`: the one scoring path both evaluate modes use (existing generations from
JSONL, or generations the rollout pool just made). Pure: records in, metrics dict out.

Records are dicts: predictions `{"study_id", "text", ["boxes"]}`, references `{"study_id", "text",
["boxes"], ["image_path"], ["image_size"]}`. Every key of `HEADLINE_KEYS` is always present in the
result; one that cannot be computed is None with its reason under "missing".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from radrl_dist.metrics import behaviour, clinical, grounding, nlg, stats

HEADLINE_KEYS = (
    "bleu_1", "bleu_2", "bleu_3", "bleu_4", "meteor", "rouge_l", "cider",
    "ce_micro_precision_14", "ce_micro_recall_14", "ce_micro_f1_14", "ce_macro_f1_14",
    "ce_micro_precision_5", "ce_micro_recall_5", "ce_micro_f1_5", "ce_macro_f1_5",
    "mean_iou", "acc_iou_0.5", "format_rate",
)  # fmt: skip
NLG_KEYS = HEADLINE_KEYS[:7]
CE_KEYS = HEADLINE_KEYS[7:15]
# map_0.5: the RadVLM authors' matching (each box vs its best-IoU reference); map_0.5_free: any free one
GROUNDING_KEYS = ("mean_iou", "acc_iou_0.3", "acc_iou_0.5", "map_0.5", "map_0.5_free", "map_coco",
                  "format_failure_rate")
TASK_KINDS = ("auto", "report", "grounding")


class Labeler(Protocol):
    name: str
    version: str

    def label(self, texts: list[str]) -> np.ndarray: ...


_TAG = {tag: re.compile(rf"<{tag}>(.*?)</{tag}>", re.S) for tag in ("report", "answer", "think")}
_BOX = re.compile(r"\[\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*\]")


def extract_report(text: str) -> tuple[str, bool | None]:
    """Report text to score and whether the tagged format holds (None when the output uses no tags).

    `<think>..</think><report>..</report>`: the report part is scored; a tagged output without a
    well-formed, non-empty report section fails the format and its whole text is scored."""
    text = text or ""
    if "<report>" not in text and "<think>" not in text and "</report>" not in text:
        return text.strip(), None
    m = _TAG["report"].search(text)
    ok = bool(m and m.group(1).strip()) and text.count("<report>") == 1 and text.count("</report>") == 1
    if "<think>" in text or "</think>" in text:
        t = _TAG["think"].search(text)
        ok = ok and bool(t and t.group(1).strip()) and text.index("</think>") < text.index("<report>")
    return (m.group(1).strip() if m else text.strip()), ok


def parse_plain_boxes(text: str) -> list[list[float]] | None:
    """RadVLM-style `[x1, y1, x2, y2]` lists in the text (inside <answer> if present); None if none."""
    m = _TAG["answer"].search(text or "")
    boxes = [[float(v) for v in g] for g in _BOX.findall(m.group(1) if m else (text or ""))]
    return boxes or None


def _boxes_of(rec: dict, strict: bool) -> list[list[float]] | None:
    """Boxes as [[x1,y1,x2,y2], ...] from a list of lists or of {x1,y1,x2,y2} dicts; None if absent.

    Malformed boxes are a format failure (None) in a prediction and an error in a reference."""
    raw = rec.get("boxes")
    if raw is None:
        return None
    try:
        out = []
        for b in raw:
            v = [float(b[k]) for k in ("x1", "y1", "x2", "y2")] if isinstance(b, dict) else [float(x) for x in b]
            if len(v) != 4 or not all(np.isfinite(v)):
                raise ValueError(f"box {b!r} is not 4 finite numbers")
            out.append(v)
        return out
    except (TypeError, ValueError, KeyError) as exc:
        if strict:
            raise ValueError(f"reference {rec.get('study_id')!r}: bad boxes ({exc})") from exc
        return None


def align(predictions: Sequence[dict], references: Sequence[dict]) -> list[tuple[dict, dict]]:
    """Pair records by study_id; duplicates or missing ids are errors that name the ids."""
    def index(recs: Sequence[dict], what: str) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for i, r in enumerate(recs):
            if "study_id" not in r:
                raise ValueError(f"{what} record {i} has no 'study_id'")
            sid = str(r["study_id"])
            if sid in out:
                raise ValueError(f"{what}: study_id {sid!r} appears twice")
            out[sid] = r
        return out

    preds, refs = index(predictions, "predictions"), index(references, "references")
    missing = sorted(set(refs) - set(preds))
    extra = sorted(set(preds) - set(refs))
    if missing or extra:
        raise ValueError(
            f"predictions and references disagree: {len(missing)} references without prediction "
            f"(e.g. {missing[:5]}), {len(extra)} predictions without reference (e.g. {extra[:5]})"
        )
    return [(preds[sid], refs[sid]) for sid in refs]


def _task_kind(pairs: list[tuple[dict, dict]], task_kind: str) -> str:
    if task_kind not in TASK_KINDS:
        raise ValueError(f"task_kind must be one of {TASK_KINDS}, got {task_kind!r}")
    if task_kind != "auto":
        return task_kind
    return "grounding" if any(r.get("boxes") for _, r in pairs) else "report"


def score_predictions(
    predictions: Sequence[dict],
    references: Sequence[dict],
    labeler: Labeler | None,
    task_kind: str = "auto",
    n_boot: int = 1000,
    seed: int = 0,
    with_meteor: bool = True,
) -> dict[str, Any]:
    """All metrics for one run. Returns {headline keys..., other metrics..., "missing": {key: reason},
    "ci": {key: {...}}, "per_observation": {convention: rows}, "per_study": [records], "meta": {...}}."""
    pairs = align(predictions, references)
    if not pairs:
        raise ValueError("no samples to score")
    kind = _task_kind(pairs, task_kind)
    out: dict[str, Any] = {k: None for k in HEADLINE_KEYS}
    missing: dict[str, str] = {}
    ci: dict[str, dict] = {}
    n = len(pairs)
    extracted = [extract_report(p.get("text") or "") for p, _ in pairs]
    cands = [t for t, _ in extracted]
    refs_txt = [r.get("text") or "" for _, r in pairs]
    per_study: list[dict] = [
        {"study_id": str(r["study_id"]), "candidate": c, "reference": rt} for (_, r), c, rt in zip(pairs, cands, refs_txt)
    ]

    # NLG (report text; grounding answers carry little text but are scored the same when present)
    res = nlg.compute_nlg(cands, refs_txt, with_meteor=with_meteor)
    out.update(res.corpus)
    missing.update(res.missing)
    for k, arr in res.per_sample.items():
        for rec, v in zip(per_study, arr):
            rec[k if not k.startswith("bleu") else f"sentence_{k}"] = float(v)
    cands_tok, refs_tok = nlg.tokenize_all(cands, refs_txt)
    st = nlg.bleu_stats(cands_tok, refs_tok)
    ci["bleu_4"] = stats.bootstrap_ci(lambda i: nlg.corpus_bleu_from_stats(st, i)[3], n, n_boot, seed).as_dict()
    for k in ("rouge_l", "cider"):
        ci[k] = stats.mean_ci(res.per_sample[k], n_boot, seed).as_dict()

    # Clinical efficacy
    cand_lab = ref_lab = None
    if labeler is None:
        for k in CE_KEYS:
            missing[k] = "no labeler given (--labeler none)"
    else:
        cand_lab = np.asarray(labeler.label(cands), dtype=np.int8)
        ref_lab = np.asarray(labeler.label(refs_txt), dtype=np.int8)
        for conv in clinical.CONVENTIONS:
            m = clinical.ce_metrics(cand_lab, ref_lab, conv)
            for k, v in m.items():
                out[f"ce_{conv}_{k}"] = v
                if conv == "r2gen" and f"ce_{k}" in out:
                    out[f"ce_{k}"] = v
        out["per_observation"] = {c: clinical.per_observation(cand_lab, ref_lab, c) for c in ("r2gen", "f1chexbert")}
        ytrue, ypred = clinical.binarize(ref_lab, "r2gen"), clinical.binarize(cand_lab, "r2gen")
        ci["ce_micro_f1_14"] = stats.bootstrap_ci(
            lambda i: clinical.prf_binary(ytrue[i], ypred[i])["micro_f1"], n, n_boot, seed
        ).as_dict()
        for rec, cl, rl in zip(per_study, cand_lab, ref_lab):
            rec["cand_labels"], rec["ref_labels"] = cl.tolist(), rl.tolist()
        ex = clinical.prf_binary  # per-study example F1 (for paired tests between runs)
        for j, rec in enumerate(per_study):
            rec["ce_example_f1"] = ex(ytrue[j : j + 1], ypred[j : j + 1])["samples_f1"]

    # Behaviour
    fmt = [ok for _, ok in extracted]
    beh = behaviour.behaviour_metrics(
        cands, None if all(f is None for f in fmt) else [bool(f) for f in fmt], cand_lab, ref_lab
    )
    out.update(beh)
    if cand_lab is not None:
        for rec, e in zip(per_study, behaviour.polarity_errors(cand_lab, ref_lab)):
            rec["polarity_error"] = bool(e)
    else:
        missing["polarity_error_rate"] = "no labeler given"
    for rec, (_, f) in zip(per_study, extracted):
        rec["format_ok"] = f

    # Grounding
    if kind == "grounding":
        preds_b = [_boxes_of(p, strict=False) if "boxes" in p else parse_plain_boxes(p.get("text") or "") for p, _ in pairs]
        refs_b = [_boxes_of(r, strict=True) or [] for _, r in pairs]
        g = grounding.grounding_metrics(preds_b, refs_b)
        out.update(g)
        out["format_rate"] = 1.0 - g["format_failure_rate"]
        ious = grounding.per_sample_ious(preds_b, refs_b)
        ci["mean_iou"] = stats.mean_ci(ious, n_boot, seed).as_dict()
        for rec, pb, rb, v in zip(per_study, preds_b, refs_b, ious):
            rec.update(pred_boxes=pb, ref_boxes=rb, iou=float(v), ap_0_5=grounding.sample_ap(pb, rb))
    else:
        for k in ("mean_iou", "acc_iou_0.5"):
            missing[k] = "not a grounding task (no reference boxes)"
    if out.get("format_rate") is None:
        out["format_rate"] = None
        missing["format_rate"] = "outputs use no tagged format (<think>/<report>) to check"

    for k in HEADLINE_KEYS:
        if out.get(k) is None and k not in missing:
            missing[k] = "not computed"
    out["missing"] = {k: v for k, v in missing.items() if out.get(k) is None}
    out["ci"] = ci
    out["per_study"] = per_study
    out["meta"] = {
        "n": n,
        "task_kind": kind,
        "labeler": None if labeler is None else {"name": labeler.name, "version": str(labeler.version)},
        "ce_convention": "plain ce_* keys use r2gen; ce_<convention>_* carry f1chexbert and example",
        "bleu": "corpus BLEU (pycocoevalcap, closest reference length); per_study sentence_bleu_* are sentence BLEU",
        "cider": "pycocoevalcap CIDEr (idf from this set's references, x10)",
        "n_boot": n_boot,
        "seed": seed,
    }
    return out


def compare_runs(a: dict, b: dict, keys: Sequence[str] = ("sentence_bleu_4", "rouge_l", "cider", "ce_example_f1", "iou")) -> dict:
    """Paired comparison of run b against run a (results of `score_predictions` on the same
    studies): per key, mean difference, bootstrap CI, permutation and Wilcoxon p-values."""
    sa = {r["study_id"]: r for r in a["per_study"]}
    sb = {r["study_id"]: r for r in b["per_study"]}
    if set(sa) != set(sb):
        raise ValueError("runs cover different studies; a paired comparison needs the same study_ids")
    ids = sorted(sa)
    out: dict[str, Any] = {}
    for k in keys:
        if all(k in sa[i] and k in sb[i] for i in ids):
            xa = np.array([sa[i][k] for i in ids], dtype=float)
            xb = np.array([sb[i][k] for i in ids], dtype=float)
            out[k] = stats.paired_comparison(xa, xb).as_dict()
    return out
