"""Reference reports for phantoms, written from varied radiology-style templates, and their labels.

Every template carries the CheXpert classes its own words assert, so labels follow the text exactly:
a positive statement sets POSITIVE, a negated one ("No pleural effusion.") NEGATIVE, a hedged one
("Possible consolidation in the right lower lobe.") UNCERTAIN. Statements merge with CheXpert's
precedence (positive > uncertain > negative > blank); a positive Consolidation implies a positive
Lung Opacity; No Finding is POSITIVE when no observation other than Support Devices is positive or
uncertain (CheXpert's rule), else BLANK. Templates keep one polarity per comma-separated clause.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from radrl_dist.constants import (
    BLANK, NEGATIVE, NO_FINDING_INDEX, NUM_OBSERVATIONS, OBSERVATION_INDEX, POSITIVE,
    SUPPORT_DEVICES_INDEX, UNCERTAIN,
)
from radrl_dist.data.phantom.findings import Finding

P, N, U = POSITIVE, NEGATIVE, UNCERTAIN
CM, EFF, CONS, LO, LL = "Cardiomegaly", "Pleural Effusion", "Consolidation", "Lung Opacity", "Lung Lesion"
PTX, SD, ATEL, ECM, ED, PNA, FX = ("Pneumothorax", "Support Devices", "Atelectasis", "Enlarged Cardiomediastinum",
                                   "Edema", "Pneumonia", "Fracture")

T = tuple[str, dict[str, int]]

POSITIVE_T: dict[str, list[T]] = {
    "cardiomegaly": [("The heart is {deg} enlarged.", {CM: P}), ("{Deg2} cardiomegaly.", {CM: P}),
                     ("The cardiac silhouette is enlarged.", {CM: P}), ("Cardiomegaly is present.", {CM: P}),
                     ("There is enlargement of the cardiac silhouette.", {CM: P})],
    "effusion": [("{Size} {side} pleural effusion.", {EFF: P}),
                 ("There is a {size} {side} pleural effusion with blunting of the costophrenic angle.", {EFF: P}),
                 ("{Side} pleural effusion is present.", {EFF: P}),
                 ("Blunting of the {side} costophrenic angle consistent with a {size} pleural effusion.", {EFF: P})],
    "effusion_bilateral": [("{Size} bilateral pleural effusions.", {EFF: P}),
                           ("Bilateral pleural effusions are present.", {EFF: P})],
    "consolidation": [("Focal opacity in the {loc} consistent with consolidation.", {LO: P, CONS: P}),
                      ("There is consolidation in the {loc}.", {CONS: P, LO: P}),
                      ("Dense consolidative opacity in the {loc}.", {CONS: P, LO: P}),
                      ("Consolidation in the {loc}, which may represent pneumonia.", {CONS: P, LO: P, PNA: U})],
    "opacity": [("Patchy opacity in the {loc}.", {LO: P}), ("There is an ill-defined opacity in the {loc}.", {LO: P}),
                ("Hazy opacity projecting over the {loc}.", {LO: P})],
    "nodule": [("A {mm} mm nodule in the {loc}.", {LL: P}),
               ("There is a rounded nodule projecting over the {loc}.", {LL: P}),
               ("Well-circumscribed pulmonary nodule in the {loc}.", {LL: P}),
               ("Nodular opacity in the {loc}.", {LL: P, LO: P})],
    "pneumothorax": [("{Size} {side} pneumothorax.", {PTX: P}),
                     ("There is a {side} apical pneumothorax with a visible pleural line.", {PTX: P}),
                     ("{Side} pneumothorax is present.", {PTX: P})],
    "device": [("{Device} in place.", {SD: P}), ("{Device} is present.", {SD: P}),
               ("There is a {device} terminating in the {terminus}.", {SD: P})],
    "atelectasis": [("{Side} basilar atelectasis.", {ATEL: P}), ("Plate-like atelectasis at the {side} base.", {ATEL: P}),
                    ("There is subsegmental atelectasis in the {side} lower lobe.", {ATEL: P}),
                    ("Linear opacity at the {side} base, consistent with atelectasis.", {LO: P, ATEL: P})],
}
HEDGED_T: dict[str, list[T]] = {
    "cardiomegaly": [("The heart size is borderline enlarged.", {CM: U}), ("Possible mild cardiomegaly.", {CM: U}),
                     ("The cardiac silhouette may be mildly enlarged.", {CM: U})],
    "effusion": [("Blunting of the {side} costophrenic angle may represent a small pleural effusion.", {EFF: U}),
                 ("Possible small {side} pleural effusion.", {EFF: U})],
    "effusion_bilateral": [("Possible small bilateral pleural effusions.", {EFF: U})],
    "consolidation": [("Possible consolidation in the {loc}.", {CONS: U}),
                      ("Patchy opacity in the {loc}, possibly early consolidation.", {LO: P, CONS: U})],
    "opacity": [("Questionable faint opacity in the {loc}.", {LO: U}), ("Possible subtle opacity in the {loc}.", {LO: U})],
    "nodule": [("Possible nodule in the {loc}.", {LL: U}), ("Questionable small nodule in the {loc}.", {LL: U})],
    "pneumothorax": [("Possible small {side} apical pneumothorax.", {PTX: U}),
                     ("A thin lucency at the {side} apex may represent a small pneumothorax.", {PTX: U})],
    "atelectasis": [("Linear opacity at the {side} base, likely atelectasis.", {LO: P, ATEL: U}),
                    ("Possible {side} basilar atelectasis.", {ATEL: U})],
}
NEGATED_T: dict[str, list[T]] = {
    "cardiomegaly": [("Heart size is normal.", {CM: N}), ("The heart is not enlarged.", {CM: N}),
                     ("No cardiomegaly.", {CM: N}), ("Normal heart size.", {CM: N})],
    "effusion": [("No pleural effusion.", {EFF: N}), ("There is no pleural effusion.", {EFF: N}),
                 ("No pleural effusions are seen.", {EFF: N}), ("The costophrenic angles are sharp.", {})],
    "consolidation": [("No focal consolidation.", {CONS: N}), ("There is no consolidation.", {CONS: N}),
                      ("No focal airspace consolidation is seen.", {CONS: N})],
    "opacity": [("No focal opacity.", {LO: N}), ("The lungs are clear without focal opacity.", {LO: N})],
    "nodule": [("No pulmonary nodules.", {LL: N}), ("No suspicious pulmonary nodule or mass.", {LL: N})],
    "pneumothorax": [("No pneumothorax.", {PTX: N}), ("There is no pneumothorax.", {PTX: N}),
                     ("No evidence of pneumothorax.", {PTX: N})],
    "atelectasis": [("No focal atelectasis.", {ATEL: N})],
    "effusion+pneumothorax": [("No pleural effusion or pneumothorax.", {EFF: N, PTX: N}),
                              ("There is no pleural effusion or pneumothorax.", {EFF: N, PTX: N})],
}
EXTRA_T: dict[str, list[T]] = {
    "mediastinum": [("The mediastinal contours are normal.", {ECM: N}),
                    ("Cardiomediastinal silhouette is within normal limits.", {ECM: N}),
                    ("Normal mediastinal contours.", {ECM: N})],
    "clear": [("The lungs are clear.", {}), ("Lungs are well expanded and clear.", {})],
    "edema": [("No pulmonary edema.", {ED: N}), ("There is no pulmonary vascular congestion.", {ED: N})],
    "bones": [("No acute osseous abnormality.", {}), ("No displaced rib fracture.", {FX: N}),
              ("Osseous structures are intact.", {})],
    "impression": [("No acute cardiopulmonary process.", {})],
}
LOCATIONS = {
    ("right", "upper"): ("right upper lobe", "right upper lung zone"),
    ("right", "middle"): ("right middle lobe", "right mid lung zone"),
    ("right", "lower"): ("right lower lobe", "right lung base"),
    ("left", "upper"): ("left upper lobe", "left upper lung zone"),
    ("left", "middle"): ("lingula", "left mid lung zone"),
    ("left", "lower"): ("left lower lobe", "left lung base"),
}
TERMINUS = {"endotracheal tube": "mid trachea", "nasogastric tube": "stomach"}


@dataclass(frozen=True)
class Statement:
    text: str
    labels: dict[str, int]


def _size(sev: float, words=("small", "moderate", "large")) -> str:
    return words[0] if sev < 0.4 else (words[1] if sev < 0.75 else words[2])


def _vars(f: Finding, rng: np.random.Generator) -> dict[str, str]:
    side = f.side or ""
    v = {"side": side, "size": _size(f.severity), "deg": _size(f.severity, ("mildly", "moderately", "markedly")),
         "deg2": _size(f.severity, ("mild", "moderate", "marked")), "mm": str(int(8 + 14 * f.severity)),
         "device": f.device or "", "terminus": TERMINUS.get(f.device or "", "superior vena cava")}
    if f.side in ("right", "left") and f.zone in ("upper", "middle", "lower"):
        v["loc"] = str(rng.choice(LOCATIONS[(f.side, f.zone)]))
    for k in ("side", "size", "deg2", "device"):
        v[k.capitalize()] = v[k][:1].upper() + v[k][1:]
    return v


def _pick(table: list[T], rng: np.random.Generator, **fmt) -> Statement:
    text, labels = table[int(rng.integers(len(table)))]
    text = text.format(**fmt)
    return Statement(text[:1].upper() + text[1:], dict(labels))


def phrase(f: Finding) -> str:
    """Canonical grounding phrase of a finding ("left pleural effusion", "nodule in the lingula")."""
    loc = LOCATIONS.get((f.side or "", f.zone or ""), ("",))[0]
    return {
        "cardiomegaly": "cardiomegaly",
        "effusion": "bilateral pleural effusions" if f.side == "bilateral" else f"{f.side} pleural effusion",
        "consolidation": f"consolidation in the {loc}",
        "opacity": f"opacity in the {loc}",
        "nodule": f"nodule in the {loc}",
        "pneumothorax": f"{f.side} pneumothorax",
        "device": f.device or "support device",
        "atelectasis": f"{f.side} basilar atelectasis",
    }[f.kind]


def finding_statement(f: Finding, rng: np.random.Generator) -> Statement:
    key = "effusion_bilateral" if f.kind == "effusion" and f.side == "bilateral" else f.kind
    table = HEDGED_T[key] if f.hedged else POSITIVE_T[key]
    return _pick(table, rng, **_vars(f, rng))


def write_report(findings: list[Finding], rng: np.random.Generator) -> tuple[str, list[Statement]]:
    """The report text and its statements, ordered heart, lines, lungs, pleura, bones."""
    present = {f.kind for f in findings}
    order = ["device", "cardiomegaly", "consolidation", "opacity", "nodule", "atelectasis", "effusion", "pneumothorax"]
    st: list[Statement] = []
    by_kind = {f.kind: f for f in findings}
    for kind in order:
        if kind in by_kind:
            st.append(finding_statement(by_kind[kind], rng))
        if kind == "cardiomegaly":
            if kind not in present and rng.random() < 0.8:
                st.append(_pick(NEGATED_T["cardiomegaly"], rng))
            if rng.random() < 0.5:
                st.append(_pick(EXTRA_T["mediastinum"], rng))
    absent = [k for k in ("consolidation", "opacity", "nodule", "atelectasis", "effusion", "pneumothorax") if k not in present]
    n_neg = int(rng.integers(3, 6)) if not findings else int(rng.integers(1, 4))
    neg = [absent[i] for i in sorted(rng.choice(len(absent), size=min(n_neg, len(absent)), replace=False))]
    if not findings and rng.random() < 0.7:
        st.append(_pick(EXTRA_T["clear"], rng))
    if "effusion" in neg and "pneumothorax" in neg and rng.random() < 0.6:
        neg = [k for k in neg if k not in ("effusion", "pneumothorax")] + ["effusion+pneumothorax"]
    st.extend(_pick(NEGATED_T[k], rng) for k in neg)
    if rng.random() < 0.4:
        st.append(_pick(EXTRA_T["edema"], rng))
    if rng.random() < 0.5:
        st.append(_pick(EXTRA_T["bones"], rng))
    if not [f for f in findings if f.kind != "device"] and rng.random() < 0.5:
        st.append(_pick(EXTRA_T["impression"], rng))
    return " ".join(s.text for s in st), st


def merge_labels(statements: list[Statement]) -> list[int]:
    """14 class ids (CheXbert order) from statements, with CheXpert precedence and No Finding rule."""
    rank = {BLANK: 0, NEGATIVE: 1, UNCERTAIN: 2, POSITIVE: 3}
    out = [BLANK] * NUM_OBSERVATIONS
    for s in statements:
        for name, cls in s.labels.items():
            i = OBSERVATION_INDEX[name]
            if rank[cls] > rank[out[i]]:
                out[i] = cls
    if out[OBSERVATION_INDEX[CONS]] == POSITIVE:
        out[OBSERVATION_INDEX[LO]] = POSITIVE
    finding = any(out[i] in (POSITIVE, UNCERTAIN) for i in range(NUM_OBSERVATIONS)
                  if i not in (NO_FINDING_INDEX, SUPPORT_DEVICES_INDEX))
    out[NO_FINDING_INDEX] = BLANK if finding else POSITIVE
    return out

