"""Findings of a phantom: sampled per study, drawn onto the anatomy layers, boxed from their masks.

Each finding knows its CheXpert observation, patient side, lung zone, severity (0..1, drives size
and contrast) and whether the report will hedge it (only faint ones are hedged, so the hedge is
visible in the image too). Boxes come from the drawn mask, so they sit on the finding by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from radrl_dist.data.phantom.anatomy import Anatomy, Canvas, Layers, mask_bbox, smooth_step

OBSERVATION = {
    "cardiomegaly": "Cardiomegaly",
    "effusion": "Pleural Effusion",
    "consolidation": "Consolidation",
    "opacity": "Lung Opacity",
    "nodule": "Lung Lesion",
    "pneumothorax": "Pneumothorax",
    "device": "Support Devices",
    "atelectasis": "Atelectasis",
}
KINDS = tuple(OBSERVATION)
_WEIGHTS = np.array([1.0, 1.3, 1.0, 0.8, 0.9, 0.9, 0.8, 0.8])
DEVICES = ("endotracheal tube", "right internal jugular central venous catheter",
           "left subclavian central venous catheter", "nasogastric tube")
NORMAL_FRACTION = 0.35


@dataclass
class Finding:
    kind: str
    side: str | None = None  # patient side: "right" | "left" | "bilateral"
    severity: float = 0.5
    hedged: bool = False
    device: str | None = None
    zone: str | None = None  # "upper" | "middle" | "lower", set when drawn
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)  # output pixels

    @property
    def observation(self) -> str:
        return OBSERVATION[self.kind]


def sample_findings(rng: np.random.Generator) -> list[Finding]:
    """~35% normal studies; the rest carry one (65%) or two (35%) different findings."""
    if rng.random() < NORMAL_FRACTION:
        return []
    n = 1 if rng.random() < 0.65 else 2
    kinds = rng.choice(len(KINDS), size=n, replace=False, p=_WEIGHTS / _WEIGHTS.sum())
    out = []
    for k in sorted(int(i) for i in kinds):
        kind = KINDS[k]
        sev = float(rng.uniform(0, 1))
        side = None
        if kind in ("effusion", "consolidation", "opacity", "nodule", "pneumothorax", "atelectasis"):
            side = "right" if rng.random() < 0.5 else "left"
            if kind == "effusion" and rng.random() < 0.15:
                side = "bilateral"
        device = str(rng.choice(DEVICES)) if kind == "device" else None
        hedged = kind != "device" and sev < 0.3 and rng.random() < 0.7
        out.append(Finding(kind=kind, side=side, severity=sev, hedged=hedged, device=device))
    return out


def heart_ratio(findings: list[Finding], rng: np.random.Generator) -> float:
    """Cardiothoracic ratio: normal 0.38-0.47, borderline (hedged) ~0.51, cardiomegaly 0.53-0.66."""
    normal = float(rng.uniform(0.38, 0.47))  # always drawn, so the rest of the stream does not shift
    for f in findings:
        if f.kind == "cardiomegaly":
            return 0.51 + 0.01 * f.severity if f.hedged else 0.53 + 0.13 * f.severity
    return normal


def _zone(a: Anatomy, side: str, y: float) -> str:
    t = (y - a.apex) / (a.base_y(side) - a.apex)
    return "upper" if t < 0.4 else ("middle" if t < 0.68 else "lower")


def _lung_point(a: Anatomy, side: str, rng: np.random.Generator, t_range=(0.2, 0.85), margin=0.25) -> tuple[float, float]:
    """A point well inside one lung (fraction `margin` of its width away from either edge)."""
    med, lat = a.side_x(side)
    t = rng.uniform(*t_range)
    y = a.apex + t * (a.base_y(side) - a.apex - 0.08)
    u = rng.uniform(margin, 1 - margin)
    if side == "left" and y > a.heart_top:  # keep clear of the heart
        med = max(med, a.heart_l - 0.02) if a.heart_l < lat - 0.1 else med
    return med + u * (lat - med), y


def _sides(f: Finding) -> list[str]:
    return ["right", "left"] if f.side == "bilateral" else [f.side]


def _box(cv: Canvas, mask: np.ndarray, f: Finding, thr: float = 0.5) -> None:
    b = mask_bbox(cv, mask, thr)
    if b is not None:
        f.boxes.append(b)


def _effusion(cv, a, L, f, rng, X, Y):
    for side in _sides(f):
        med, lat = a.side_x(side)
        base = a.base_y(side)
        h = 0.10 + 0.12 * f.severity
        u = np.clip((X - med) / (lat - med), 0, 1.2)  # 0 medial .. 1 lateral wall
        top = base - h * (0.45 + 0.55 * np.clip(u, 0, 1) ** 1.5)  # meniscus: higher against the wall
        reach = 0.5 + 0.35 * f.severity  # how far medially the fluid spreads
        wall = smooth_step((lat - X) * np.sign(lat - med) + 0.004, 0.004)
        mask = smooth_step(Y - top, 0.008) * smooth_step(u - (1 - reach), 0.05) * wall * smooth_step(base + 0.01 - Y, 0.004)
        L.base = np.maximum(L.base, L.base + (185.0 - L.base) * mask)
        L.markings *= 1 - mask
        _box(cv, mask, f)
    f.zone = "lower"


def _blob(cv, a, L, f, rng, X, Y, radius, density, value, n_lobes):
    side = f.side
    cx, cy = _lung_point(a, side, rng)
    f.zone = _zone(a, side, cy)
    acc = np.zeros(cv.shape, np.float32)
    for _ in range(n_lobes):
        ox, oy = rng.normal(0, radius * 0.45, 2)
        r = radius * rng.uniform(0.6, 1.0)
        acc += np.exp(-(((X - cx - ox) ** 2 + ((Y - cy - oy) * 0.8) ** 2) / r ** 2))
    patches = ndimage.gaussian_filter(rng.normal(0, 1, cv.shape).astype(np.float32), cv.px(radius * 0.25))
    patches = np.clip(0.75 + 0.25 * patches / (patches.std() + 1e-6), 0, 1)
    mask = np.clip(acc * 1.2, 0, 1) ** 1.5 * patches * L.lung[side]
    mask = np.clip((mask - 0.12) / 0.88, 0, 1)  # no faint tails outside the box
    L.base = L.base + (value - L.base) * mask * density
    L.markings *= 1 - 0.6 * mask
    _box(cv, mask, f, thr=0.1)


def _nodule(cv, a, L, f, rng, X, Y):
    cx, cy = _lung_point(a, f.side, rng, margin=0.3)
    f.zone = _zone(a, f.side, cy)
    r = 0.022 + 0.022 * f.severity
    d = r - np.hypot(X - cx, (Y - cy) * 0.8 * 1.25)
    mask = smooth_step(d, 0.005)
    L.base = L.base + (150.0 + 40 * f.severity - L.base) * mask * (0.55 if f.hedged else 0.9)
    _box(cv, mask, f)


def _pneumothorax(cv, a, L, f, rng, X, Y):
    side = f.side
    lung = L.lung[side] > 0.5
    dist = ndimage.distance_transform_edt(lung) / cv.shape[1]  # in image widths
    width = 0.035 + 0.05 * f.severity
    ylim = a.apex + (a.base_y(side) - a.apex) * (0.45 + 0.35 * f.severity)
    med, lat = a.side_x(side)
    lateral_half = smooth_step((X - (med + 0.35 * (lat - med))) * np.sign(lat - med), 0.01)
    region = lateral_half * smooth_step(ylim - Y, 0.03)
    rim = (lung & (dist < width)).astype(np.float32) * region
    edge = (lung & (dist >= width) & (dist < width + 0.008)).astype(np.float32) * region
    rim, edge = ndimage.gaussian_filter(rim, 1.0), ndimage.gaussian_filter(edge, 1.0)
    L.markings *= 1 - rim
    L.base = L.base - 18.0 * rim + 45.0 * edge + 10.0 * lung * region * (1 - rim)
    f.zone = "upper"
    _box(cv, np.maximum(rim, edge), f)


def _device(cv, a, L, f, rng, X, Y):
    carina = a.heart_top - 0.04
    if f.device == "endotracheal tube":
        tip = carina - 0.05 - 0.04 * rng.random()
        pts = [[(a.mid + 0.002, 0.0), (a.mid, tip)]]
        width, value = 0.012, 55.0
    elif f.device == "nasogastric tube":
        pts = [[(a.mid, 0.0), (a.mid + 0.005, a.heart_top), (a.mid + 0.02, a.l_base - 0.02),
                (a.mid + 0.10, a.l_base + 0.05), (a.mid + 0.16, a.l_base + 0.08)]]
        width, value = 0.008, 60.0
    elif f.device.startswith("right"):
        pts = [[(a.mid - 0.12, 0.0), (a.mid - 0.10, a.apex), (a.mid - 0.05, a.apex + 0.10), (a.mid - 0.035, carina + 0.04)]]
        width, value = 0.008, 85.0
    else:
        pts = [[(a.mid + 0.34, a.apex + 0.02), (a.mid + 0.15, a.apex + 0.05), (a.mid - 0.01, a.apex + 0.10),
                (a.mid - 0.035, carina + 0.04)]]
        width, value = 0.008, 85.0
    mask = cv.lines(pts, width, blur=0.002)
    L.base = L.base + value * mask
    f.zone = None
    _box(cv, mask, f, thr=0.2)


def _atelectasis(cv, a, L, f, rng, X, Y):
    side = f.side
    med, lat = a.side_x(side)
    cx = med + rng.uniform(0.5, 0.65) * (lat - med)
    cy = float(a.dome_y(side, np.array([cx]))[0]) - rng.uniform(0.035, 0.06)
    half = 0.06 + 0.04 * f.severity
    tilt = rng.uniform(-0.15, 0.15)
    pts = [[(cx - half, cy - tilt * half), (cx + half, cy + tilt * half)]]
    mask = cv.lines(pts, 0.024 + 0.014 * f.severity, blur=0.004) * L.lung[side]
    L.base = L.base + (170.0 - L.base) * mask * (0.7 if f.hedged else 0.95)
    L.markings *= 1 - 0.5 * mask
    f.zone = "lower"
    _box(cv, mask, f)


def draw_finding(cv: Canvas, a: Anatomy, L: Layers, f: Finding, rng: np.random.Generator) -> None:
    """Edit the layers in place and set f.boxes (output pixels) and f.zone."""
    X, Y = cv.grid()
    if f.kind == "cardiomegaly":
        _box(cv, L.heart, f)
    elif f.kind == "effusion":
        _effusion(cv, a, L, f, rng, X, Y)
    elif f.kind == "consolidation":
        dens = 0.55 if f.hedged else 0.8 + 0.15 * f.severity
        _blob(cv, a, L, f, rng, X, Y, 0.05 + 0.04 * f.severity, dens, 175.0, 5)
    elif f.kind == "opacity":
        dens = 0.45 if f.hedged else 0.6 + 0.15 * f.severity
        _blob(cv, a, L, f, rng, X, Y, 0.07 + 0.04 * f.severity, dens, 140.0, 3)
    elif f.kind == "nodule":
        _nodule(cv, a, L, f, rng, X, Y)
    elif f.kind == "pneumothorax":
        _pneumothorax(cv, a, L, f, rng, X, Y)
    elif f.kind == "device":
        _device(cv, a, L, f, rng, X, Y)
    elif f.kind == "atelectasis":
        _atelectasis(cv, a, L, f, rng, X, Y)
    else:
        raise ValueError(f"unknown phantom finding kind {f.kind!r}; known: {KINDS}")
