"""Rule labeler vs IU X-Ray's manually coded MeSH terms, on EVEN report ids only (the tuning half).

Odd ids are held out for an independent measurement (DESIGN 7): this script refuses to score them
unless `--split odd` is given explicitly, which the tuning loop never does.

Ground truth: an observation is present when one of the report's MeSH *major* terms maps to it.
MeSH codes only what is present, so this measures the labeler's POSITIVE calls (precision/recall/F1
per observation); `--uncertain-positive` also counts its uncertain calls. Reports coded "No Indexing"
or with no findings/impression text are skipped.

MeSH -> CheXpert mapping (term = the part before the first "/", qualifiers after it):
- Enlarged Cardiomediastinum: Mediastinum (any qualifier, e.g. /prominent, /paratracheal)
- Cardiomegaly: Cardiomegaly; Cardiac Shadow/enlarged; Heart/enlarged
- Lung Opacity: Opacity, Density (both unless qualified by a bone or soft tissue: ribs, vertebrae,
  sternum, clavicle, humerus, breast, adipose tissue, abdomen, heart, mitral valve); Airspace
  Disease; Infiltrate; Markings (lung, interstitial, bronchovascular); Cicatrix/lung (CheXpert counts
  parenchymal scarring as opacity); Pulmonary Fibrosis; Lung Diseases, Interstitial
- Lung Lesion: Nodule and Mass (unless breast/heart); Cavitation
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

Usage: python bench/labeler_iu_xray.py [--labeler rules] [--uncertain-positive]
Prints a per-observation table, then one JSON line (last line).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from radrl_dist.constants import CHEXPERT_OBSERVATIONS, NUM_OBSERVATIONS, OBSERVATION_INDEX, POSITIVE, UNCERTAIN
from radrl_dist.data.iu_xray_reports import IUReport, load_reports
from radrl_dist.labelers.factory import build_labeler

_NON_LUNG = {"ribs", "thoracic vertebrae", "lumbar vertebrae", "sternum", "clavicle", "humerus", "breast",
             "adipose tissue", "abdomen", "heart", "mitral valve", "spine", "shoulder"}
_DEVICES = {"Catheters, Indwelling", "Implanted Medical Device", "Medical Device", "Tube, Inserted", "Stents",
            "Surgical Instruments"}


def mesh_to_observations(terms: tuple[str, ...]) -> set[str]:
    """CheXpert observations present according to the MeSH major terms (mapping in the docstring)."""
    out: set[str] = set()
    for raw in terms:
        parts = [p.strip() for p in raw.split("/")]
        head, quals = parts[0], {q.lower() for q in parts[1:]}
        if head == "Mediastinum":
            out.add("Enlarged Cardiomediastinum")
        elif head == "Cardiomegaly" or (head in ("Cardiac Shadow", "Heart") and "enlarged" in quals):
            out.add("Cardiomegaly")
        elif head in ("Opacity", "Density") and not (quals & _NON_LUNG):
            out.add("Lung Opacity")
        elif head in ("Airspace Disease", "Infiltrate", "Markings", "Pulmonary Fibrosis",
                      "Lung Diseases, Interstitial") or (head == "Cicatrix" and "lung" in quals):
            out.add("Lung Opacity")
        elif head in ("Nodule", "Mass") and not (quals & {"breast", "heart"}) or head == "Cavitation":
            out.add("Lung Lesion")
        elif head in ("Pulmonary Edema", "Pulmonary Congestion", "Heart Failure"):
            out.add("Edema")
        elif head == "Consolidation":
            out.add("Consolidation")
        elif head == "Pneumonia":
            out.add("Pneumonia")
        elif head == "Pulmonary Atelectasis":
            out.add("Atelectasis")
        elif head in ("Pneumothorax", "Hydropneumothorax"):
            out.add("Pneumothorax")
            if head == "Hydropneumothorax":
                out.add("Pleural Effusion")
        elif head == "Pleural Effusion":
            out.add("Pleural Effusion")
        elif head == "Pleura" or (head in ("Thickening", "Cicatrix", "Calcinosis") and "pleura" in quals):
            out.add("Pleural Other")
        elif head == "Fractures, Bone":
            out.add("Fracture")
        elif head in _DEVICES:
            out.add("Support Devices")
    if not out - {"Support Devices"}:
        out.add("No Finding")
    return out


def truth_matrix(reports: list[IUReport]) -> np.ndarray:
    y = np.zeros((len(reports), NUM_OBSERVATIONS), dtype=bool)
    for i, r in enumerate(reports):
        for obs in mesh_to_observations(r.mesh_major):
            y[i, OBSERVATION_INDEX[obs]] = True
    return y


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--labeler", default="rules", help='"rules" or "chexbert:PATH"')
    ap.add_argument("--tokenizer", default=None, help="tokenizer dir for a CheXbert labeler")
    ap.add_argument("--split", choices=("even", "odd"), default="even", help="even = tuning half (default)")
    ap.add_argument("--uncertain-positive", action="store_true", help="count uncertain calls as positive")
    args = ap.parse_args(argv)
    parity = 0 if args.split == "even" else 1
    reports = [r for r in load_reports() if r.report_id % 2 == parity and r.text
               and "No Indexing" not in r.mesh_major]
    labeler = build_labeler(args.labeler, tokenizer=args.tokenizer)
    t0 = time.perf_counter()
    labels = labeler.label([r.text for r in reports])
    secs = time.perf_counter() - t0
    pred = labels == POSITIVE
    if args.uncertain_positive:
        pred |= labels == UNCERTAIN
    truth = truth_matrix(reports)
    print(f"{args.split} ids: {len(reports)} reports, labeler {labeler.version}, {len(reports) / secs:.0f} reports/s")
    print(f"{'observation':28s} {'n_true':>6s} {'n_pred':>6s} {'P':>6s} {'R':>6s} {'F1':>6s}")
    table, tps, fps, fns = {}, 0, 0, 0
    for j, obs in enumerate(CHEXPERT_OBSERVATIONS):
        tp = int((pred[:, j] & truth[:, j]).sum())
        fp = int((pred[:, j] & ~truth[:, j]).sum())
        fn = int((~pred[:, j] & truth[:, j]).sum())
        p, r, f = prf(tp, fp, fn)
        table[obs] = {"n_true": int(truth[:, j].sum()), "n_pred": int(pred[:, j].sum()),
                      "precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4)}
        print(f"{obs:28s} {truth[:, j].sum():6d} {pred[:, j].sum():6d} {p:6.3f} {r:6.3f} {f:6.3f}")
        tps, fps, fns = tps + tp, fps + fp, fns + fn
    mp, mr, mf = prf(tps, fps, fns)
    macro = float(np.mean([v["f1"] for v in table.values()]))
    print(f"{'micro':28s} {'':6s} {'':6s} {mp:6.3f} {mr:6.3f} {mf:6.3f}   macro F1 {macro:.3f}")
    print(json.dumps({"split": args.split, "n_reports": len(reports), "labeler": labeler.version,
                      "uncertain_positive": args.uncertain_positive, "micro_precision": round(mp, 4),
                      "micro_recall": round(mr, 4), "micro_f1": round(mf, 4), "macro_f1": round(macro, 4),
                      "per_observation": table}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
