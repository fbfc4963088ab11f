"""CLI: python -m radrl_dist.data.prepare <dataset> --root PATH --out DIR [options].

Exit status: 0 Parquet written; 3 some rows are bad (errors.jsonl lists them, no Parquet written;
--drop-bad writes the good rows and lists the dropped ones); 1 the input is unusable (a missing
file or column), with the reason on stderr and in summary.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from radrl_dist.data.prepare import CONVERTERS
from radrl_dist.data.prepare.common import FatalInputError
from radrl_dist.data.prepare.output import EXIT_FATAL, OutputOptions, clear_outputs, finish

EPILOG = """outputs in --out: train.parquet val.parquet test.parquet (STUDY_SCHEMA), summary.json
(counts per split, errors and filtered rows by reason, label prevalence, box statistics),
errors.jsonl (one line per bad row), images.jsonl (per image: written path, original size, scale).
Boxes are in the pixels of the file each row points to; original = written / img_scale_x|y
(prompt_vars). Exit: 0 ok, 3 bad rows (nothing written unless --drop-bad), 1 unusable input."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m radrl_dist.data.prepare", description="Convert a chest X-ray dataset to training Parquet.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="dataset", required=True, metavar="dataset")
    for name, mod in CONVERTERS.items():
        p = sub.add_parser(name, help=mod.HELP, description=mod.__doc__, epilog=EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--root", type=Path, required=True, help="the dataset's folder (images, csv files)")
        p.add_argument("--out", type=Path, required=True, help="output folder")
        p.add_argument("--images-out", type=Path, default=None,
                       help="where converted/resized images go (default OUT/images)")
        p.add_argument("--max-side", type=int, default=None,
                       help="shrink images whose longer side exceeds this (boxes scaled; rule recorded)")
        p.add_argument("--verify-images", action="store_true", help="fully decode every image (default: header only)")
        p.add_argument("--drop-bad", action="store_true", help="drop bad rows (listed in errors.jsonl) and write the rest")
        p.add_argument("--workers", type=int, default=1, help="processes for image work (default 1)")
        mod.add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if not args.root.exists():
        print(f"error: --root {args.root} does not exist", file=sys.stderr)
        return EXIT_FATAL
    opts = OutputOptions(out=args.out, root=args.root, images_out=args.images_out, max_side=args.max_side,
                         verify_images=args.verify_images, drop_bad=args.drop_bad, workers=args.workers, argv=argv)
    try:
        conv = CONVERTERS[args.dataset].convert(args)
    except FatalInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        args.out.mkdir(parents=True, exist_ok=True)
        clear_outputs(args.out)
        (args.out / "summary.json").write_text(json.dumps(
            {"dataset": args.dataset, "status": "fatal", "error": str(exc), "rows_written": 0, "argv": argv}, indent=2) + "\n")
        return EXIT_FATAL
    return finish(conv, opts)


if __name__ == "__main__":
    sys.exit(main())
