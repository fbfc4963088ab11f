"""`python -m radrl_dist.evaluate --predictions P.jsonl --references R.jsonl [--out DIR]`

Scores existing generations (no model): metrics.json, report.md, per_study.jsonl, plots and a
gallery. Generation from a checkpoint (`--config X.yaml --checkpoint C`) runs through the rollout
pool and then calls the same `score_predictions`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from radrl_dist.config import ConfigError, load_config
from radrl_dist.evaluate import plots
from radrl_dist.evaluate.gallery import write_gallery
from radrl_dist.evaluate.generate import generate_split
from radrl_dist.evaluate.report import write_outputs
from radrl_dist.evaluate.score import TASK_KINDS, compare_runs, score_predictions
from radrl_dist.labelers.factory import build_labeler


class EvalInputError(ValueError):
    """A predictions/references file that cannot be scored; the message names the file and line."""


def _bad_string(value, where: str = "") -> str | None:
    """Where in a JSON value a string is not valid Unicode (a lone surrogate such as \\ud800, which
    json accepts but no file can hold), or None."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            return f"{where or 'a value'} holds {value[exc.start]!r} at character {exc.start}, a lone surrogate (not valid Unicode)"
        return None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for k, v in items:
        bad = _bad_string(k, f"{where} key" if where else "a key") if isinstance(k, str) else None
        bad = bad or _bad_string(v, f"{where}.{k}" if where else f"'{k}'")
        if bad:
            return bad
    return None


def read_jsonl(path: Path, what: str) -> list[dict]:
    """JSONL records; a bad line is an EvalInputError naming the file, the line and what is wrong,
    raised before any scoring (so no metric is computed and then lost)."""
    if not Path(path).exists():
        raise EvalInputError(f"{what} file {path} does not exist")
    out = []
    for i, line in enumerate(Path(path).read_text(encoding="utf-8", errors="surrogateescape").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalInputError(f"{path}:{i}: not valid JSON ({exc.msg})") from exc
        if not isinstance(rec, dict) or "study_id" not in rec:
            raise EvalInputError(f"{path}:{i}: each line must be an object with 'study_id' and 'text'")
        if "text" in rec and not isinstance(rec["text"], str):
            raise EvalInputError(f"{path}:{i}: 'text' must be a string, got {type(rec['text']).__name__} "
                                 f"{json.dumps(rec['text'])[:40]}")
        if _bad_string(line):
            raise EvalInputError(f"{path}:{i}: the line is not valid UTF-8")
        bad = _bad_string(rec)
        if bad:
            raise EvalInputError(f"{path}:{i}: {bad}")
        out.append(rec)
    return out


def build(name: str):
    """The labeler by name (lazy import: the labelers package is optional for NLG-only scoring)."""
    if name == "none":
        return None
    return build_labeler(name)


def run(args: argparse.Namespace, labeler=None) -> dict:
    out_dir = Path(args.out)
    refs = read_jsonl(args.references, "references")
    preds = read_jsonl(args.predictions, "predictions")
    base_recs = read_jsonl(args.baseline, "baseline predictions") if args.baseline else None
    lab = labeler if labeler is not None else build(args.labeler)
    kw = dict(task_kind=args.task, n_boot=args.n_boot, seed=args.seed, with_meteor=not args.no_meteor)
    m = score_predictions(preds, refs, lab, **kw)
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.baseline:
        base = score_predictions(base_recs, refs, lab, **kw)
        m["comparison"] = compare_runs(base, m)
        m["baseline_name"] = Path(args.baseline).name
        if "per_observation" in m and "per_observation" in base:
            plots.plot_per_observation_f1(
                {"baseline": base["per_observation"]["r2gen"], "this run": m["per_observation"]["r2gen"]},
                out_dir / "per_observation_f1.png",
            )
    elif "per_observation" in m:
        plots.plot_per_observation_f1({"this run": m["per_observation"]["r2gen"]}, out_dir / "per_observation_f1.png")
    if m["meta"]["task_kind"] == "grounding":
        plots.plot_iou_histogram([r["iou"] for r in m["per_study"]], out_dir / "iou_histogram.png")
    if args.train_log:
        plots.plot_reward_curves(Path(args.train_log), out_dir / "reward_curves.png")
    images = {str(r["study_id"]): r.get("image_path") or (r.get("image_paths") or [None])[0] for r in refs}
    write_gallery(m["per_study"], {k: v for k, v in images.items() if v}, out_dir, max_items=args.gallery)
    write_outputs(m, out_dir, title=f"Evaluation of {Path(args.predictions).name}")
    return m


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m radrl_dist.evaluate", description=__doc__.splitlines()[0])
    p.add_argument("--predictions", type=Path, help="JSONL: {study_id, text[, boxes]}")
    p.add_argument("--references", type=Path, help="JSONL: {study_id, text[, boxes, image_path]}")
    p.add_argument("--out", default="eval_out", help="output directory")
    p.add_argument("--labeler", default="rules", help="labeler name for CE metrics, or 'none'")
    p.add_argument("--task", default="auto", choices=TASK_KINDS)
    p.add_argument("--baseline", type=Path, help="second predictions JSONL for a paired comparison")
    p.add_argument("--train-log", type=Path, help="training JSONL log to plot reward curves from")
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--gallery", type=int, default=20, help="studies in the gallery")
    p.add_argument("--no-meteor", action="store_true", help="skip METEOR (needs Java)")
    p.add_argument("--config", help="generation mode: run config YAML")
    p.add_argument("--checkpoint", help="generation mode: checkpoint directory")
    p.add_argument("--split", default="test")
    p.add_argument("--set", "-s", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="generation mode: config override (repeatable)")
    p.add_argument("--sample", action="store_true", help="generation mode: sample instead of greedy")
    p.add_argument("--limit", type=int, help="generation mode: at most this many studies")
    return p


def generation_mode(args: argparse.Namespace) -> int:
    """Generate with the checkpoint over a split through the rollout pool, then score each task."""
    if not (args.config and args.checkpoint):
        print("generation mode needs both --config and --checkpoint", file=sys.stderr)
        return 2
    try:
        cfg = load_config(args.config, args.overrides)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    out = Path(args.out)
    for task, (preds, refs) in generate_split(cfg, args.checkpoint, args.split, out, greedy=not args.sample,
                                              limit=args.limit).items():
        sub = argparse.Namespace(**{**vars(args), "predictions": preds, "references": refs, "out": str(out / task),
                                    "task": task})
        m = run(sub)
        keys = ("bleu_4", "rouge_l", "ce_micro_f1_14", "mean_iou", "format_rate")
        print(f"{task}: " + " ".join(f"{k}={m[k]:.4f}" if m.get(k) is not None else f"{k}=null" for k in keys))
    print(f"wrote {out}/<task>/metrics.json, report.md, per_study.jsonl")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.config or args.checkpoint:
        return generation_mode(args)
    if not (args.predictions and args.references):
        print("give --predictions and --references (JSONL)", file=sys.stderr)
        return 2
    try:
        m = run(args)
    except EvalInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    keys = ("bleu_4", "meteor", "rouge_l", "cider", "ce_micro_f1_14", "mean_iou", "format_rate")
    print(" ".join(f"{k}={m[k]:.4f}" if m.get(k) is not None else f"{k}=null" for k in keys))
    print(f"wrote {args.out}/metrics.json, report.md, per_study.jsonl")
    return 0


if __name__ == "__main__":
    sys.exit(main())
