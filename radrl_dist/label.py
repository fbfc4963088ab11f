"""Label reports with a CheXpert labeler: JSONL in, JSONL out.

    python -m radrl_dist.label --labeler rules --input reports.jsonl --output labeled.jsonl
    python -m radrl_dist.label --labeler chexbert:/models/chexbert.pth --tokenizer /models/bert-base-uncased \\
        --input reports.jsonl --output labeled.jsonl

Each input line is a JSON object with a "text" field; every other field is copied through. Each
output line adds "labels": {observation: "positive" | "negative" | "uncertain" | "blank"} for the 14
CheXpert observations in CheXbert order, and "labeler": the labeler version that produced them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tqdm import tqdm

from radrl_dist.labelers.base import labels_to_names
from radrl_dist.labelers.factory import build_labeler


def read_jsonl(path: Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SystemExit(f"{path}:{n}: not valid JSON ({exc.msg})") from exc
            if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                raise SystemExit(f'{path}:{n}: each line must be a JSON object with a string "text" field')
            rows.append(row)
    return rows


TOKENIZER_CONFIGS = ("tokenizer.json", "tokenizer_config.json")


def load_error(labeler, spec: str) -> str | None:
    """Label one sentence so weights and tokenizer load now: an unusable model folder becomes one line
    naming it (and what it lacks) before any output is written, not a traceback from transformers."""
    try:
        labeler.label(["No acute cardiopulmonary process."])
        return None
    except Exception as exc:  # noqa: BLE001 - transformers/torch raise many types for unusable folders
        text = str(exc).strip()
        cause = text.splitlines()[0] if text else type(exc).__name__
    tok = getattr(labeler, "tokenizer_dir", None)
    if tok is None:
        return f"cannot load labeler {spec!r}: {cause}"
    held = sorted(p.name for p in Path(tok).iterdir()) if Path(tok).is_dir() else []
    if not any(n in held for n in TOKENIZER_CONFIGS):
        cause = (f"it needs {' or '.join(TOKENIZER_CONFIGS)} beside vocab.txt; copy the whole "
                 f"bert-base-uncased tokenizer folder")
    return f"cannot load labeler {spec!r} with tokenizer folder {tok} (holds {held}): {cause}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m radrl_dist.label", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--labeler", default="rules",
                    help='"rules" (default, no weights), "rules:PHRASE_DIR", or "chexbert:PATH" to a chexbert.pth')
    ap.add_argument("--tokenizer", default=None,
                    help="CheXbert only: local bert-base-uncased tokenizer dir (default: beside the checkpoint)")
    ap.add_argument("--input", required=True, type=Path, help='JSONL file, one {"text": ...} per line')
    ap.add_argument("--output", required=True, type=Path, help="JSONL file to write")
    ap.add_argument("--batch-size", type=int, default=64, help="reports per labeler call (default 64)")
    ap.add_argument("--device", default="cpu", help="CheXbert only: torch device (default cpu)")
    args = ap.parse_args(argv)
    if not args.input.is_file():
        ap.error(f"--input {args.input} does not exist")
    if args.batch_size < 1:
        ap.error("--batch-size must be >= 1")
    try:
        labeler = build_labeler(args.labeler, tokenizer=args.tokenizer, device=args.device)
    except (ValueError, FileNotFoundError) as exc:
        ap.error(str(exc))
    rows = read_jsonl(args.input)
    problem = load_error(labeler, args.labeler)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as out, tqdm(total=len(rows), unit="report", desc="labeling") as bar:
        for s in range(0, len(rows), args.batch_size):
            chunk = rows[s : s + args.batch_size]
            labels = labeler.label([r["text"] for r in chunk])
            for row, lab in zip(chunk, labels):
                out.write(json.dumps({**row, "labels": labels_to_names(lab), "labeler": labeler.version}) + "\n")
            bar.update(len(chunk))
    print(f"wrote {len(rows)} labeled reports to {args.output} ({labeler.version})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
