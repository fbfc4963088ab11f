"""Converters from the public chest X-ray datasets to training Parquet (DESIGN.md section 2).

`python -m radrl_dist.data.prepare <dataset> --root PATH --out DIR` — one module per dataset parses
its files into drafts (common.py); output.py processes images (images.py), validates every row and
writes Parquet only when all rows are good (or bad ones are dropped with --drop-bad).
"""

from __future__ import annotations

from radrl_dist.data.prepare import iu_xray, latte_cxr, mimic_cxr, ms_cxr, nih_bbox, vindr_cxr

CONVERTERS = {m.NAME: m for m in (mimic_cxr, iu_xray, ms_cxr, latte_cxr, vindr_cxr, nih_bbox)}

__all__ = ["CONVERTERS"]
