"""Normal chest anatomy of a PA phantom: geometry sampled per study, drawn as separate layers.

Coordinates are normalised (x across the width, y down the height, both 0..1) so any image size
works; drawing happens on a supersampled grid (`Canvas`) and is box-averaged down at the end.
The image follows the PA convention: the patient's right is on the image's left.
Layers stay separate until `compose` so findings can act on them the way physics would, e.g. a
pneumothorax removes lung markings but not ribs, an effusion hides the diaphragm and the angle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

# Target 8-bit intensities, tuned against the two real radiographs (see bench/phantom_gallery.py).
AIR, SOFT, LUNG, MEDIASTINUM, HEART, ABDOMEN = 12.0, 128.0, 44.0, 178.0, 188.0, 214.0


@dataclass(frozen=True)
class Canvas:
    """A supersampled drawing grid for a (width, height) output image."""

    width: int
    height: int
    ss: int = 2

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height * self.ss, self.width * self.ss)

    def grid(self) -> tuple[np.ndarray, np.ndarray]:
        """Normalised x, y of pixel centres, each of `shape`."""
        h, w = self.shape
        y = (np.arange(h, dtype=np.float32) + 0.5) / h
        x = (np.arange(w, dtype=np.float32) + 0.5) / w
        return np.meshgrid(x, y)

    def px(self, length: float) -> float:
        """A normalised length (in image widths) in supersampled pixels."""
        return length * self.shape[1]

    def to_ss(self, pts: list[tuple[float, float]]) -> list[tuple[float, float]]:
        h, w = self.shape
        return [(x * w, y * h) for x, y in pts]

    def lines(self, polylines: list[list[tuple[float, float]]], width: float, blur: float = 0.0,
              weights: list[float] | None = None, widths: list[float] | None = None) -> np.ndarray:
        """Float mask 0..1 of polylines (normalised points), `width` in image widths, one blur for all."""
        h, w = self.shape
        im = Image.new("L", (w, h), 0)
        draw = ImageDraw.Draw(im)
        for i, pl in enumerate(polylines):
            wpx = max(1, int(round(self.px(widths[i] if widths else width))))
            fill = int(round(255 * (weights[i] if weights else 1.0)))
            draw.line(self.to_ss(pl), fill=fill, width=wpx, joint="curve")
        out = np.asarray(im, dtype=np.float32) / 255.0
        return ndimage.gaussian_filter(out, self.px(blur)) if blur > 0 else out


def smooth_step(d: np.ndarray, soft: float) -> np.ndarray:
    """0 -> 1 across a signed distance d (positive = inside) over `soft` (normalised units)."""
    return np.clip(0.5 + d / (2.0 * soft), 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class Anatomy:
    """Per-study geometry (normalised). `r_`/`l_` are the patient's right (image left) and left."""

    mid: float  # midline x
    apex: float  # lung apex y
    r_lat: float  # lateral wall x of the right lung (image left)
    l_lat: float
    r_base: float  # y of the right costophrenic angle
    l_base: float
    r_dome: float  # dome height of the right hemidiaphragm (normalised y)
    l_dome: float
    heart_r: float  # right heart border x (image left of midline)
    heart_l: float  # left heart border x (image right)
    heart_top: float
    rib_gap: float
    brightness: float  # global exposure offset

    @property
    def thorax_width(self) -> float:
        return self.l_lat - self.r_lat

    @property
    def ctr(self) -> float:
        """Cardiothoracic ratio: widest heart diameter over widest inner thorax."""
        return (self.heart_l - self.heart_r) / self.thorax_width

    def side_x(self, side: str) -> tuple[float, float]:
        """(medial x, lateral x) of a lung by patient side."""
        return (self.mid - 0.03, self.r_lat) if side == "right" else (self.mid + 0.03, self.l_lat)

    def base_y(self, side: str) -> float:
        return self.r_base if side == "right" else self.l_base

    def dome_y(self, side: str, x: np.ndarray) -> np.ndarray:
        """Diaphragm y along x for one side: high medially, peak mid-hemithorax, sharp lateral angle."""
        med, lat = self.side_x(side)
        base, dome = (self.r_base, self.r_dome) if side == "right" else (self.l_base, self.l_dome)
        u = np.clip((x - med) / (lat - med), 0.0, 1.0)
        rise = 0.55 + 0.45 * np.sin(np.pi / 2 * np.clip(u / 0.42, 0, 1))
        fall = np.clip(np.cos(np.pi / 2 * np.clip((u - 0.42) / 0.58, 0, 1)), 0, 1) ** 0.8
        g = np.where(u < 0.42, rise, fall)
        return base - dome * g


def sample_anatomy(rng: np.random.Generator, ctr: float) -> Anatomy:
    """Random normal geometry with the heart sized to the requested cardiothoracic ratio."""
    mid = 0.5 + rng.normal(0, 0.012)
    half = rng.uniform(0.35, 0.39)
    r_lat, l_lat = mid - half, mid + half
    r_base = rng.uniform(0.70, 0.75)
    l_base = r_base + rng.uniform(0.01, 0.04)
    heart_w = ctr * (l_lat - r_lat)
    heart_r = mid - heart_w * rng.uniform(0.27, 0.33)
    return Anatomy(
        mid=mid, apex=rng.uniform(0.10, 0.14), r_lat=r_lat, l_lat=l_lat, r_base=r_base, l_base=l_base,
        r_dome=rng.uniform(0.09, 0.13), l_dome=rng.uniform(0.07, 0.11), heart_r=heart_r,
        heart_l=heart_r + heart_w, heart_top=rng.uniform(0.43, 0.47), rib_gap=rng.uniform(0.052, 0.060),
        brightness=rng.normal(0, 5),
    )


@dataclass
class Layers:
    """What compose() adds up; findings edit these in place."""

    base: np.ndarray  # tissue intensities without lung markings
    markings: np.ndarray  # vessels (added; a pneumothorax zeroes them in its rim)
    lung: dict  # side -> soft mask of the aerated lung
    heart: np.ndarray  # soft heart mask (its bbox is the cardiomegaly box)


def lung_mask(a: Anatomy, side: str, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Arched apex, lateral wall bulging to the costophrenic angle, diaphragm dome below."""
    med, lat = a.side_x(side)
    base = a.base_y(side)
    t = np.clip((Y - a.apex) / (base - a.apex), 0.0, 1.0)
    xa = med + 0.5 * (lat - med)  # x of the apex
    p = np.sqrt(np.clip(1.0 - (1.0 - np.clip(t / 0.34, 0, 1)) ** 2, 0, 1))
    bulge = 1.0 + 0.04 * np.sin(np.pi * t) - 0.05 * np.clip((t - 0.85) / 0.15, 0, 1)
    lat_edge = xa + (lat - xa) * p * bulge * (0.74 + 0.26 * t ** 0.7)
    med_edge = xa + (med - xa) * p
    sgn = 1.0 if lat > med else -1.0
    soft = 0.006
    return (
        smooth_step(sgn * (lat_edge - X), soft)
        * smooth_step(sgn * (X - med_edge), soft)
        * smooth_step(Y - a.apex, soft)
        * smooth_step(a.dome_y(side, X) - Y, soft)
    )


def _body(a: Anatomy, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Neck at the top widening to shoulders and a trunk that fills most of the width."""
    half = 0.11 + 0.40 * np.clip((Y - 0.02) / 0.16, 0, 1) ** 0.6
    return smooth_step(half - np.abs(X - a.mid), 0.02)


def _ribs(cv: Canvas, a: Anatomy, rng: np.random.Generator) -> np.ndarray:
    """Posterior ribs (arching up from the spine, curving down at the wall), fainter anterior ones."""
    post, ant, pw, aw = [], [], [], []
    u = np.linspace(0, 1, 16)
    for lat in (a.r_lat, a.l_lat):
        for k in range(10):
            y0 = a.apex - 0.02 + k * a.rib_gap * (1 + 0.04 * k) + rng.normal(0, 0.004)
            xs = a.mid + (lat - a.mid) * (0.07 + 1.0 * u)
            ys = y0 - 0.03 * np.sin(np.pi * u * 0.8) + (0.07 + 0.004 * k) * u ** 2
            post.append(list(zip(xs.tolist(), ys.tolist())))
            pw.append(rng.uniform(0.015, 0.022))
            xa = lat + (a.mid - lat) * (0.02 + 0.6 * u)
            ya = a.apex + 0.05 + k * a.rib_gap * 1.15 + 0.11 * u ** 1.3
            ant.append(list(zip(xa.tolist(), ya.tolist())))
            aw.append(rng.uniform(0.010, 0.016))
    return cv.lines(post, 0.018, blur=0.003, widths=pw) + 0.6 * cv.lines(ant, 0.012, blur=0.006, widths=aw)


def _vessels(cv: Canvas, a: Anatomy, rng: np.random.Generator) -> np.ndarray:
    """Branching vascular markings from each hilum, tapering and fading towards the periphery."""
    segs, weights, widths = [], [], []
    hila = []
    for sgn in (-1.0, 1.0):
        hx, hy = a.mid + sgn * 0.10, 0.44 + rng.normal(0, 0.01)
        hila.append((hx, hy))
        for _ in range(22):
            ang = rng.uniform(-1.2, 1.4)  # radians from horizontal (outward); positive is downward
            length = rng.uniform(0.10, 0.26)
            x, y = hx + sgn * rng.uniform(0, 0.03), hy + rng.normal(0, 0.02)
            for s in range(5):
                ang += rng.normal(0, 0.25)
                nx, ny = x + sgn * np.cos(ang) * length / 5, y + np.sin(ang) * length / 5
                segs.append([(x, y), (nx, ny)])
                weights.append(1 - s / 6)
                widths.append(0.009 * (1 - s / 6))
                x, y = nx, ny
    out = cv.lines(segs, 0.009, blur=0.004, weights=weights, widths=widths)
    X, Y = cv.grid()
    for hx, hy in hila:
        d = np.hypot(X - hx, (Y - hy) * 1.3)
        out += 0.8 * np.exp(-((d / 0.06) ** 2))  # hilar density
    return np.clip(out, 0, 1.6)


def draw_anatomy(cv: Canvas, a: Anatomy, rng: np.random.Generator) -> Layers:
    X, Y = cv.grid()
    body = _body(a, X, Y)
    img = AIR + (SOFT - AIR) * body + 10.0 * body * np.clip((Y - 0.5) * 2, 0, 1)
    lungs = {s: lung_mask(a, s, X, Y) for s in ("right", "left")}
    thorax = np.clip(lungs["right"] + lungs["left"], 0, 1)
    dia = np.where(X < a.mid, a.dome_y("right", X), a.dome_y("left", X))
    inside = smooth_step(np.minimum(X - a.r_lat, a.l_lat - X) + 0.01, 0.03)
    below = smooth_step(Y - dia - 0.04 * (1 - inside), 0.01 + 0.08 * (1 - inside)) * (0.6 + 0.4 * inside)
    img = img + (ABDOMEN - img) * below * body
    # Lungs get denser towards the bases and the walls (soft tissue in front of them).
    lung_val = LUNG + 30.0 * np.clip((Y - 0.4) / 0.3, 0, 1) + 18.0 * np.clip(np.abs(X - a.mid) / 0.38 - 0.65, 0, 1) / 0.35
    img = img + (lung_val - img) * thorax
    ribs = _ribs(cv, a, rng)
    chest = smooth_step(np.minimum(X - a.r_lat + 0.05, a.l_lat + 0.05 - X), 0.02) * smooth_step(dia + 0.02 - Y, 0.02)
    img = img + 36.0 * ribs * chest * (0.5 + 0.5 * thorax)
    # Mediastinum: a central band (wider below), aortic knob on the left, trachea a darker stripe.
    med_half = 0.06 + 0.025 * np.clip((Y - 0.18) / 0.2, 0, 1)
    med = smooth_step(med_half - np.abs(X - a.mid), 0.015) * smooth_step(dia - Y + 0.05, 0.02) * body
    knob = np.exp(-(((X - (a.mid + 0.07)) / 0.035) ** 2 + ((Y - (a.heart_top - 0.07)) / 0.03) ** 2))
    img = img + (MEDIASTINUM - img) * np.clip(med + knob, 0, 1)
    trachea = smooth_step(0.016 - np.abs(X - a.mid), 0.008) * smooth_step(a.heart_top - 0.07 - Y, 0.04)
    img = img - 28.0 * trachea
    # Heart: sits on the diaphragm; right border a shallow convexity just right of the spine, left
    # border a wide convexity reaching furthest out low down (the apex), as on a PA film.
    bottom = a.l_base - 0.02
    th = np.clip((Y - a.heart_top) / (bottom - a.heart_top), 0, 1)
    right = a.mid - (a.mid - a.heart_r) * (0.55 + 0.45 * np.sin(np.pi * np.clip(th / 1.2 + 0.1, 0, 1)))
    left = a.mid + (a.heart_l - a.mid) * (0.4 + 0.6 * np.sin(np.pi * np.clip(th * 0.62, 0, 1)) ** 0.6)
    top = a.heart_top + 0.05 * ((X - (a.heart_r + a.heart_l) / 2) / (a.heart_l - a.heart_r)) ** 2 * 4
    heart = (
        smooth_step(np.minimum(X - right, left - X), 0.012)
        * smooth_step(Y - top, 0.02)
        * smooth_step(dia + 0.02 - Y, 0.012)
    )
    img = img + (HEART - img) * heart
    spine = smooth_step(0.03 - np.abs(X - a.mid), 0.01) * body
    img = img + spine * (6.0 + 8.0 * np.sin((Y - a.apex) * np.pi / a.rib_gap) ** 2)
    clav = []
    for sgn in (-1.0, 1.0):
        u = np.linspace(0, 1, 12)
        clav.append(list(zip((a.mid + sgn * (0.05 + 0.40 * u)).tolist(), (a.apex + 0.05 - 0.09 * u + 0.03 * u ** 2).tolist())))
    img = img + 55.0 * cv.lines(clav, 0.03, blur=0.005) * body
    texture = ndimage.gaussian_filter(rng.normal(0, 1, cv.shape).astype(np.float32), cv.px(0.02))
    texture *= 7.0 / (texture.std() + 1e-6)
    hidden = np.clip(heart + med, 0, 1)  # vessels behind the heart and mediastinum do not show
    vessels = (40.0 * _vessels(cv, a, rng) + texture) * thorax * (1 - hidden)
    return Layers(base=img.astype(np.float32), markings=vessels.astype(np.float32), lung=lungs, heart=heart)


def compose(cv: Canvas, layers: Layers, a: Anatomy, rng: np.random.Generator) -> np.ndarray:
    """Layers -> uint8 image at the output size: blur, box-downsample, mottle + noise, exposure."""
    img = layers.base + layers.markings
    img = ndimage.gaussian_filter(img, 0.6 * cv.ss)
    h, w = cv.height, cv.width
    img = img.reshape(h, cv.ss, w, cv.ss).mean(axis=(1, 3))
    mottle = ndimage.gaussian_filter(rng.normal(0, 1, (h, w)).astype(np.float32), max(1.0, w / 40))
    img = img + 25.0 * mottle + rng.normal(0, 3.5, (h, w)) + a.brightness
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def mask_bbox(cv: Canvas, mask: np.ndarray, thr: float = 0.5) -> tuple[float, float, float, float] | None:
    """Bounding box (x1, y1, x2, y2) in output-image pixels of mask > thr, or None when empty."""
    ys, xs = np.nonzero(mask > thr)
    if len(xs) == 0:
        return None
    s = cv.ss
    return (float(xs.min()) / s, float(ys.min()) / s, float(xs.max() + 1) / s, float(ys.max() + 1) / s)
