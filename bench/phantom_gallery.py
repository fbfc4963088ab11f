"""Contact sheet of phantoms with their boxes, and intensity statistics against real radiographs.

    python bench/phantom_gallery.py [--out cache/phantom_gallery.png] [--seed 0] [--size 128x160]

Lung fields should be dark and the mediastinum bright, as on the two real PA films in
/work/shared/data/real_cxr (regions of interest placed by hand, as fractions of the image).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from radrl_dist.data.phantom.generator import render_study
from radrl_dist.data.phantom.reports import phrase

REAL_DIR = Path("/work/shared/data/real_cxr")
REAL_ROIS = {  # (x1, y1, x2, y2) fractions: two lung boxes, one mediastinum box
    "00000001_000.png": {"lung": [(0.2, 0.28, 0.38, 0.58), (0.6, 0.25, 0.78, 0.5)], "mediastinum": [(0.42, 0.42, 0.56, 0.65)]},
    "00027426_000.png": {"lung": [(0.24, 0.25, 0.42, 0.55), (0.62, 0.22, 0.80, 0.55)], "mediastinum": [(0.47, 0.35, 0.6, 0.6)]},
}
COLORS = [(255, 64, 64), (64, 200, 255), (255, 200, 0), (120, 255, 120)]


def roi_stats(img: np.ndarray, rois: list[tuple[float, float, float, float]]) -> tuple[float, float]:
    h, w = img.shape
    v = np.concatenate([img[int(y1 * h):int(y2 * h), int(x1 * w):int(x2 * w)].ravel() for x1, y1, x2, y2 in rois])
    return float(v.mean()), float(v.std())


def phantom_rois(a) -> dict[str, list[tuple[float, float, float, float]]]:
    """Central boxes of each lung (above the heart) and of the mediastinum, from the phantom's geometry."""
    lungs = []
    for side in ("right", "left"):
        med, lat = a.side_x(side)
        x1, x2 = sorted((med + 0.3 * (lat - med), med + 0.75 * (lat - med)))
        lungs.append((x1, a.apex + 0.12, x2, a.heart_top))
    return {"lung": lungs, "mediastinum": [(a.mid - 0.05, a.heart_top + 0.03, a.mid + 0.05, a.l_base - 0.1)]}


def tile(seed: int, size: tuple[int, int], n: int = 12, scale: int = 2) -> tuple[Image.Image, list]:
    tiles, studies = [], []
    for i in range(n):
        ps = render_study(seed, "train", i, size)
        studies.append(ps)
        im = Image.fromarray(ps.image).convert("RGB").resize((size[0] * scale, size[1] * scale), Image.NEAREST)
        d = ImageDraw.Draw(im)
        for k, f in enumerate(ps.findings):
            for x1, y1, x2, y2 in f.boxes:
                d.rectangle([x1 * scale, y1 * scale, x2 * scale - 1, y2 * scale - 1], outline=COLORS[k % 4])
            d.text((3, 3 + 11 * k), ("?" if f.hedged else "") + phrase(f)[:30], fill=COLORS[k % 4])
        if not ps.findings:
            d.text((3, 3), "normal", fill=(200, 200, 200))
        tiles.append(im)
    w, h = tiles[0].size
    sheet = Image.new("RGB", (4 * w, ((n + 3) // 4) * h))
    for i, t in enumerate(tiles):
        sheet.paste(t, ((i % 4) * w, (i // 4) * h))
    return sheet, studies


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="cache/phantom_gallery.png")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", default="128x160", help="WxH of the phantom images")
    p.add_argument("--n-stats", type=int, default=40, help="phantoms used for the intensity statistics")
    args = p.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    t0 = time.perf_counter()
    sheet, studies = tile(args.seed, size)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out)
    gal_s = time.perf_counter() - t0
    for i, ps in enumerate(studies):
        print(f"[{i:2d}] {ps.report}")
    figures: dict = {"gallery": args.out, "size": list(size), "seconds_for_12": round(gal_s, 2)}
    for name, rois in REAL_ROIS.items():
        img = np.asarray(Image.open(REAL_DIR / name).convert("L"), dtype=np.float32)
        for region, boxes in rois.items():
            m, s = roi_stats(img, boxes)
            figures[f"real/{name[:-4]}/{region}"] = [round(m, 1), round(s, 1)]
            print(f"real {name} {region:12s} mean {m:6.1f} std {s:5.1f}")
    acc: dict[str, list] = {"lung": [], "mediastinum": []}
    for i in range(args.n_stats):
        ps = render_study(args.seed + 1, "train", i, size)
        if ps.findings:
            continue
        img = ps.image.astype(np.float32)
        for region, boxes in phantom_rois(ps.anatomy).items():
            acc[region].append(roi_stats(img, boxes))
    for region, v in acc.items():
        m, s = np.mean([a for a, _ in v]), np.mean([b for _, b in v])
        figures[f"phantom/normal/{region}"] = [round(float(m), 1), round(float(s), 1)]
        print(f"phantom normal studies (n={len(v)}) {region:12s} mean {m:6.1f} std {s:5.1f}")
    print(f"gallery written to {args.out} in {gal_s:.2f} s")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
