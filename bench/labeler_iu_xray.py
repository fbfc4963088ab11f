"""Rule labeler vs IU X-Ray's manually coded MeSH terms, on EVEN report ids only (the tuning half).

Odd ids are held out for an independent measurement (DESIGN 7): this script refuses to score them
unless `--split odd` is given explicitly, which the tuning loop never does.

Ground truth: an observation is present when one of the report's MeSH *major* terms maps to it.
MeSH codes only what is present, so this measures the labeler's POSITIVE calls (precision/recall/F1
per observation); `--uncertain-positive` also counts its uncertain calls. Reports coded "No Indexing"
or with no findings/impression text are skipped. Two kinds of cell are left out of an observation's
counts (column n_skip), because MeSH cannot say what a CheXpert labeler should answer there:
- hedged: the term carries the qualifier "borderline" (e.g. Cardiomegaly/borderline). CheXpert calls
  "borderline cardiomegaly" uncertain, so in positive-only scoring neither answer is wrong; with
  `--uncertain-positive` these cells count as present.
- undetermined: Enlarged Cardiomediastinum in a report coded Cardiac Shadow/enlarged and no
  Mediastinum term. MeSH has no term for the cardiomediastinal silhouette; the Open-i coders file
  "enlarged cardiomediastinal silhouette" under Cardiac Shadow (all 6 such even-id reports), while
  CheXpert's own phrase list makes the cardiomediastinal silhouette Enlarged Cardiomediastinum. The
  term therefore says Cardiomegaly, and nothing about Enlarged Cardiomediastinum.

MeSH -> CheXpert mapping (term = the part before the first "/", qualifiers after it):
- Enlarged Cardiomediastinum: Mediastinum (any qualifier, e.g. /prominent, /paratracheal)
- Cardiomegaly: Cardiomegaly; Cardiac Shadow/enlarged or /borderline; Heart/enlarged
- Lung Opacity: Opacity, Density (both unless qualified by a bone or soft tissue: ribs, vertebrae,
  sternum, clavicle, humerus, breast, adipose tissue, abdomen, heart, mitral valve); Airspace
  Disease; Infiltrate; Markings (lung, interstitial, bronchovascular); Cicatrix/lung (CheXpert counts
  parenchymal scarring as opacity); Pulmonary Fibrosis; Lung Diseases, Interstitial
- Lung Lesion: Nodule and Mass (unless breast/heart); Cavitation; Opacity, Density or Infiltrate
  qualified /round (same bone/soft-tissue exclusions). MeSH has no "nodular opacity"; the coders
  write it as Opacity/.../round ("6 mm nodular opacity" -> Opacity/lung/upper lobe/right/round), and
  CheXpert's Lung Lesion list names nodular opacity and nodular density.
- Edema: Pulmonary Edema; Pulmonary Congestion; Heart Failure
- Consolidation: Consolidation
- Pneumonia: Pneumonia
- Atelectasis: Pulmonary Atelectasis
- Pneumothorax: Pneumothorax; Hydropneumothorax
- Pleural Effusion: Pleural Effusion; Hydropneumothorax
- Pleural Other: Thickening/pleura; Cicatrix/pleura; Calcinosis/pleura; Pleura (any)
- Fracture: Fractures, Bone
- Support Devices: Catheters, Indwelling; Implanted Medical Device; Medical Device; Tube, Inserted;
  Stents; Surgical Instruments
- No Finding: no term maps to a CheXpert pathology (Support Devices aside), as CheXpert defines it
Not mapped (no CheXpert observation): Calcified Granuloma, Granulomatous Disease, Calcinosis
(except pleura), Aorta, Spine, Thoracic Vertebrae, Emphysema, Costophrenic Angle, Diaphragm, Lung/
hypoinflation or hyperdistention, Hernia, Technical Quality, Scoliosis, and the like.

Usage: python bench/labeler_iu_xray.py [--labeler rules] [--uncertain-positive] [--split even|odd]
Prints a per-observation table, then one JSON line (last line). `--hostile-mb N` instead times the
labeler on an N-MB adversarial string and on the worst of ~2,000 adversarial windows built from the
phrase files' words (the labeler reads model output; it must stay linear-time): the bound is 1 CPU
second for the string and 0.25 for any window, and the script exits 1 when either is exceeded.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time

import numpy as np

from radrl_dist.constants import CHEXPERT_OBSERVATIONS, NUM_OBSERVATIONS, OBSERVATION_INDEX, POSITIVE, UNCERTAIN
from radrl_dist.data.iu_xray_reports import IUReport, load_reports
from radrl_dist.labelers.base import Labeler
from radrl_dist.labelers.factory import build_labeler
from radrl_dist.labelers.phrases import load_phrase_data

# truth per (report, observation); ABSENT/PRESENT are scored, the other two are left out (docstring)
ABSENT, PRESENT, HEDGED, UNDETERMINED = 0, 1, 2, 3
_TRUTH_RANK = {ABSENT: 0, UNDETERMINED: 1, HEDGED: 2, PRESENT: 3}
HOSTILE_STRING_LIMIT_S = 1.0  # a 1 MB hostile model output, whole
HOSTILE_WINDOW_LIMIT_S = 0.25  # any single adversarial window (a quadratic phrase takes seconds)

_NON_LUNG = {"ribs", "thoracic vertebrae", "lumbar vertebrae", "sternum", "clavicle", "humerus", "breast",
             "adipose tissue", "abdomen", "heart", "mitral valve", "spine", "shoulder"}
_DEVICES = {"Catheters, Indwelling", "Implanted Medical Device", "Medical Device", "Tube, Inserted", "Stents",
            "Surgical Instruments"}


def _term_observations(head: str, quals: set[str]) -> list[str]:
    """CheXpert observations one MeSH major term names (mapping in the docstring)."""
    out: list[str] = []
    if head == "Mediastinum":
        out.append("Enlarged Cardiomediastinum")
    elif head == "Cardiomegaly" or (head in ("Cardiac Shadow", "Heart") and quals & {"enlarged", "borderline"}):
        out.append("Cardiomegaly")
    elif head in ("Opacity", "Density", "Infiltrate") and not (quals & _NON_LUNG):
        out.append("Lung Opacity")
        if "round" in quals:
            out.append("Lung Lesion")
    elif head in ("Airspace Disease", "Markings", "Pulmonary Fibrosis",
                  "Lung Diseases, Interstitial") or (head == "Cicatrix" and "lung" in quals):
        out.append("Lung Opacity")
    elif head in ("Nodule", "Mass") and not (quals & {"breast", "heart"}) or head == "Cavitation":
        out.append("Lung Lesion")
    elif head in ("Pulmonary Edema", "Pulmonary Congestion", "Heart Failure"):
        out.append("Edema")
    elif head == "Consolidation":
        out.append("Consolidation")
    elif head == "Pneumonia":
        out.append("Pneumonia")
    elif head == "Pulmonary Atelectasis":
        out.append("Atelectasis")
    elif head in ("Pneumothorax", "Hydropneumothorax"):
        out.append("Pneumothorax")
        if head == "Hydropneumothorax":
            out.append("Pleural Effusion")
    elif head == "Pleural Effusion":
        out.append("Pleural Effusion")
    elif head == "Pleura" or (head in ("Thickening", "Cicatrix", "Calcinosis") and "pleura" in quals):
        out.append("Pleural Other")
    elif head == "Fractures, Bone":
        out.append("Fracture")
    elif head in _DEVICES:
        out.append("Support Devices")
    return out


def mesh_truth(terms: tuple[str, ...]) -> dict[str, int]:
    """{observation: PRESENT | HEDGED | UNDETERMINED} from the MeSH major terms; absent ones omitted."""
    out: dict[str, int] = {}

    def put(obs: str, value: int) -> None:
        if _TRUTH_RANK[value] > _TRUTH_RANK[out.get(obs, ABSENT)]:
            out[obs] = value

    for raw in terms:
        parts = [p.strip() for p in raw.split("/")]
        head, quals = parts[0], {q.lower() for q in parts[1:]}
        for obs in _term_observations(head, quals):
            put(obs, HEDGED if "borderline" in quals else PRESENT)
        if head == "Cardiac Shadow" and "enlarged" in quals:
            put("Enlarged Cardiomediastinum", UNDETERMINED)
    if not {obs for obs, v in out.items() if v in (PRESENT, HEDGED)} - {"Support Devices"}:
        out["No Finding"] = PRESENT  # CheXpert: no pathology positive or uncertain
    return out


def mesh_to_observations(terms: tuple[str, ...]) -> set[str]:
    """Observations MeSH codes as present (hedged ones included, as the coders did)."""
    return {obs for obs, v in mesh_truth(terms).items() if v in (PRESENT, HEDGED)}


def truth_matrix(reports: list[IUReport]) -> np.ndarray:
    """int8 [N, 14] of ABSENT / PRESENT / HEDGED / UNDETERMINED."""
    y = np.zeros((len(reports), NUM_OBSERVATIONS), dtype=np.int8)
    for i, r in enumerate(reports):
        for obs, v in mesh_truth(r.mesh_major).items():
            y[i, OBSERVATION_INDEX[obs]] = v
    return y


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def split_reports(split: str) -> list[IUReport]:
    """Scored reports of one half: even ids tune, odd ids measure (DESIGN 7)."""
    if split not in ("even", "odd"):
        raise ValueError(f"split must be 'even' or 'odd', got {split!r}")
    parity = 0 if split == "even" else 1
    return [r for r in load_reports() if r.report_id % 2 == parity and r.text and "No Indexing" not in r.mesh_major]


def score(labels: np.ndarray, truth: np.ndarray, *, uncertain_positive: bool = False) -> dict:
    """Positive-call P/R/F1 per observation, micro over all cells and macro over the 14 F1s."""
    pred = labels == POSITIVE
    if uncertain_positive:
        pred |= labels == UNCERTAIN
    present = (truth == PRESENT) | ((truth == HEDGED) & uncertain_positive)
    scored = (truth == ABSENT) | present
    table, tps, fps, fns = {}, 0, 0, 0
    for j, obs in enumerate(CHEXPERT_OBSERVATIONS):
        pj, tj, sj = pred[:, j], present[:, j], scored[:, j]
        tp, fp, fn = int((pj & tj).sum()), int((pj & ~tj & sj).sum()), int((~pj & tj).sum())
        p, r, f = prf(tp, fp, fn)
        table[obs] = {"n_true": int(tj.sum()), "n_pred": int((pj & sj).sum()), "n_skip": int((~sj).sum()),
                      "precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4)}
        tps, fps, fns = tps + tp, fps + fp, fns + fn
    mp, mr, mf = prf(tps, fps, fns)
    return {"micro_precision": round(mp, 4), "micro_recall": round(mr, 4), "micro_f1": round(mf, 4),
            "macro_f1": round(float(np.mean([v["f1"] for v in table.values()])), 4), "per_observation": table}


def _phrase_words(phrase_dir: str | None = None) -> list[str]:
    """Every word the phrase files use: the places where a match attempt starts and can run long."""
    mentions, cues, _ = load_phrase_data(phrase_dir)

    def walk(x: object):
        if isinstance(x, str):
            yield x
        elif isinstance(x, dict):
            for k, v in x.items():
                yield from walk(k)
                yield from walk(v)
        elif isinstance(x, list):
            for v in x:
                yield from walk(v)

    return sorted({w for p in [*walk(mentions), *walk(cues)] for w in re.findall(r"[a-z]{2,}", p)})


def hostile_windows(words: list[str], size: int = 19000) -> list[str]:
    """Per phrase word, the shapes that make a backtracking regex quadratic: the word followed by a long
    hyphen run, by a spaced hyphen run, and repeated with spaces and with hyphens (a phrase that repeats
    a group, e.g. "(?:venous |central )+line", re-scans such a run at every word)."""
    out = []
    for w in words:
        out += [w + "-" * size + " x", w + "- " * (size // 2) + "x", (w + " ") * (size // (len(w) + 1)),
                (w + "-") * (size // (len(w) + 1))]
    return out


def hostile_text(n_bytes: int, words: list[str]) -> str:
    """One adversarial model output of about `n_bytes`: the windows above back to back, then junk."""
    text = "".join(hostile_windows(words))
    junk = "XXXX ...!!!??? , , ; " + "a" * 5000 + " " * 3000
    return (text + junk * (1 + max(0, n_bytes - len(text)) // len(junk)))[:n_bytes]


def time_hostile(labeler: Labeler, megabytes: float) -> dict:
    """CPU seconds to label one hostile string of `megabytes` MB (the rule labeler reads its first
    20,000 characters), and the slowest single window of `hostile_windows` (what a hostile model output
    inside that limit can cost). CPU time of this process, so other jobs on the machine do not count."""
    words = _phrase_words()
    text = hostile_text(int(megabytes * 1_000_000), words)
    t0 = time.process_time()
    labeler.label([text])
    whole = time.process_time() - t0
    worst, worst_word = 0.0, ""
    for w, window in zip([w for w in words for _ in range(4)], hostile_windows(words)):
        t0 = time.process_time()
        labeler.label([window])
        dt = time.process_time() - t0
        if dt > worst:
            worst, worst_word = dt, w
    return {"hostile_bytes": len(text), "hostile_cpu_s": round(whole, 4), "windows": 4 * len(words),
            "worst_window_cpu_s": round(worst, 4), "worst_window_word": worst_word}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--labeler", default="rules", help='"rules" or "chexbert:PATH"')
    ap.add_argument("--tokenizer", default=None, help="tokenizer dir for a CheXbert labeler")
    ap.add_argument("--split", choices=("even", "odd"), default="even", help="even = tuning half (default)")
    ap.add_argument("--uncertain-positive", action="store_true", help="count uncertain calls as positive")
    ap.add_argument("--hostile-mb", type=float, default=None, help="time one adversarial string of this size")
    args = ap.parse_args(argv)
    labeler = build_labeler(args.labeler, tokenizer=args.tokenizer)
    if args.hostile_mb is not None:
        res = time_hostile(labeler, args.hostile_mb)
        ok = res["hostile_cpu_s"] < HOSTILE_STRING_LIMIT_S and res["worst_window_cpu_s"] < HOSTILE_WINDOW_LIMIT_S
        print(json.dumps({"labeler": labeler.version, **res, "within_bounds": ok}))
        return 0 if ok else 1
    reports = split_reports(args.split)
    t0 = time.perf_counter()
    labels = labeler.label([r.text for r in reports])
    secs = time.perf_counter() - t0
    res = score(labels, truth_matrix(reports), uncertain_positive=args.uncertain_positive)
    print(f"{args.split} ids: {len(reports)} reports, labeler {labeler.version}, {len(reports) / secs:.0f} reports/s")
    print(f"{'observation':28s} {'n_true':>6s} {'n_pred':>6s} {'n_skip':>6s} {'P':>6s} {'R':>6s} {'F1':>6s}")
    for obs, v in res["per_observation"].items():
        print(f"{obs:28s} {v['n_true']:6d} {v['n_pred']:6d} {v['n_skip']:6d} {v['precision']:6.3f} "
              f"{v['recall']:6.3f} {v['f1']:6.3f}")
    print(f"{'micro':28s} {'':20s} {res['micro_precision']:6.3f} {res['micro_recall']:6.3f} {res['micro_f1']:6.3f}"
          f"   macro F1 {res['macro_f1']:.3f}")
    print(json.dumps({"split": args.split, "n_reports": len(reports), "labeler": labeler.version,
                      "uncertain_positive": args.uncertain_positive, "reports_per_s": round(len(reports) / secs),
                      **res}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
