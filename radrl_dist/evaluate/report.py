"""Writers for one evaluation: metrics.json, per_study.jsonl and report.md (tables shaped like the
seeds' tables: BoxMed-RL Tables 1-3, MRG-R1 Table I), with the CE convention beside every CE number."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from radrl_dist.constants import TOP5_OBSERVATIONS


def _f(v: Any, nd: int = 3) -> str:
    return "–" if v is None else f"{v:.{nd}f}"


def _ci(m: dict, key: str) -> str:
    c = m.get("ci", {}).get(key)
    return "" if not c else f" [{c['ci_low']:.3f}, {c['ci_high']:.3f}]"


def render_markdown(m: dict, title: str = "Evaluation") -> str:
    meta = m.get("meta", {})
    lab = meta.get("labeler")
    lines = [f"# {title}", ""]
    lines.append(
        f"{meta.get('n')} studies, task `{meta.get('task_kind')}`, labeler "
        f"`{lab['name']} {lab['version']}`" if lab else f"{meta.get('n')} studies, task `{meta.get('task_kind')}`, no labeler"
    )
    lines += ["", "## Report generation (NLG: pycocoevalcap, corpus BLEU; CE: r2gen convention, micro, 14 obs.)", ""]
    lines.append("| Method | BLEU-1 | BLEU-2 | BLEU-3 | BLEU-4 | METEOR | ROUGE-L | CIDEr | CE-F1 (r2gen) |")
    lines.append("|---|---|---|---|---|---|---|---|---|")
    lines.append(
        "| this run | " + " | ".join(_f(m.get(k)) for k in ("bleu_1", "bleu_2", "bleu_3", "bleu_4", "meteor", "rouge_l", "cider", "ce_micro_f1_14")) + " |"
    )
    if m.get("ce_micro_f1_14") is not None:
        lines += ["", "## Clinical efficacy (convention named in each row)", ""]
        lines.append("| Convention | Observations | Precision | Recall | F1 | macro-F1 |")
        lines.append("|---|---|---|---|---|---|")
        for s, scope in (("14", "all 14"), ("5", "top 5")):
            lines.append(
                f"| r2gen (micro) | {scope} | {_f(m.get(f'ce_micro_precision_{s}'))} | {_f(m.get(f'ce_micro_recall_{s}'))} "
                f"| {_f(m.get(f'ce_micro_f1_{s}'))}{_ci(m, 'ce_micro_f1_14') if s == '14' else ''} | {_f(m.get(f'ce_macro_f1_{s}'))} |"
            )
            lines.append(
                f"| f1chexbert (micro; uncertain = positive) | {scope} | {_f(m.get(f'ce_f1chexbert_micro_precision_{s}'))} "
                f"| {_f(m.get(f'ce_f1chexbert_micro_recall_{s}'))} | {_f(m.get(f'ce_f1chexbert_micro_f1_{s}'))} "
                f"| {_f(m.get(f'ce_f1chexbert_macro_f1_{s}'))} |"
            )
            lines.append(
                f"| example (per-report mean) | {scope} | {_f(m.get(f'ce_example_precision_{s}'))} "
                f"| {_f(m.get(f'ce_example_recall_{s}'))} | {_f(m.get(f'ce_example_f1_{s}'))} | – |"
            )
        lines += [
            "",
            "r2gen: positive only; f1chexbert: uncertain counts as positive; example: per-report P/R/F1 "
            "averaged (a report with no positive on either side scores 0, as sklearn's samples average "
            "with zero_division=0, so top-5 example numbers are low on mostly normal studies).",
        ]
        rows = m.get("per_observation", {}).get("r2gen")
        if rows:
            lines += ["", "## Per observation (r2gen convention; * = top 5)", ""]
            lines.append("| Category | Accuracy | Precision | Recall | F1-Score | Support |")
            lines.append("|---|---|---|---|---|---|")
            for r in rows:
                star = "*" if r["observation"] in TOP5_OBSERVATIONS else ""
                lines.append(
                    f"| {r['observation']}{star} | {_f(r['accuracy'])} | {_f(r['precision'])} | {_f(r['recall'])} "
                    f"| {_f(r['f1'])} | {r['support']} |"
                )
    if m.get("mean_iou") is not None:
        lines += ["", "## Grounding", ""]
        lines.append("| mean IoU | Acc@0.3 | Acc@0.5 | mAP@0.5 (RadVLM) | mAP@[.5:.95] | format failures |")
        lines.append("|---|---|---|---|---|---|")
        lines.append(
            f"| {_f(m.get('mean_iou'))}{_ci(m, 'mean_iou')} | {_f(m.get('acc_iou_0.3'))} | {_f(m.get('acc_iou_0.5'))} "
            f"| {_f(m.get('map_0.5'))} | {_f(m.get('map_coco'))} | {_f(m.get('format_failure_rate'))} |"
        )
    lines += ["", "## Behaviour", "", "| mean length (words) | format rate | polarity-error rate |", "|---|---|---|"]
    lines.append(
        f"| {_f(m.get('response_length_mean'), 1)} | {_f(m.get('format_rate'))} | {_f(m.get('polarity_error_rate'))} |"
    )
    if m.get("ci"):
        lines += ["", f"## 95% bootstrap intervals ({meta.get('n_boot')} resamples, seed {meta.get('seed')})", ""]
        lines.append("| Metric | Value | 95% CI |")
        lines.append("|---|---|---|")
        for k, c in m["ci"].items():
            lines.append(f"| {k} | {_f(c['value'])} | [{_f(c['ci_low'])}, {_f(c['ci_high'])}] |")
    if m.get("comparison"):
        lines += ["", f"## Paired comparison: this run minus baseline ({m.get('baseline_name', 'baseline')})", ""]
        lines.append("| Per-study score | Mean diff | 95% CI | p (perm., two-sided) | p (Wilcoxon, one-sided) |")
        lines.append("|---|---|---|---|---|")
        for k, c in m["comparison"].items():
            lines.append(
                f"| {k} | {c['mean_diff']:+.4f} | [{c['ci_low']:+.4f}, {c['ci_high']:+.4f}] | {c['p_permutation']:.4f} "
                f"| {_f(c['p_wilcoxon'], 4)} |"
            )
    if m.get("missing"):
        lines += ["", "## Not computed", ""]
        lines += [f"- `{k}`: {v}" for k, v in m["missing"].items()]
    lines.append("")
    return "\n".join(lines)


def write_outputs(m: dict, out_dir: Path, title: str = "Evaluation") -> dict[str, Path]:
    """metrics.json (everything but per-study rows), per_study.jsonl, report.md."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"metrics": out_dir / "metrics.json", "per_study": out_dir / "per_study.jsonl", "report": out_dir / "report.md"}
    body = {k: v for k, v in m.items() if k != "per_study"}
    paths["metrics"].write_text(json.dumps(body, indent=2, sort_keys=False) + "\n")
    with paths["per_study"].open("w") as fh:
        for rec in m.get("per_study", []):
            fh.write(json.dumps(rec) + "\n")
    paths["report"].write_text(render_markdown(m, title))
    return paths
