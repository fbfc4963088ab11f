"""A run checkpoint's manifest: size and sha256 of every file, written last by the run that saved it.

Why: a checkpoint holds pickled DeepSpeed files, and a truncated or swapped file must be refused
with its path, before any loader touches it. `manifest.json` is written after every other file of
`checkpoints/step_N/` (temp file and rename), so it also marks the checkpoint complete; a checkpoint
without one (killed mid-save, or not written by radrl_dist) is never loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

MANIFEST = "manifest.json"
FORMAT = 1


class CheckpointInvalid(RuntimeError):
    """A checkpoint that must not be loaded; the message names the file and why."""


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _files(ckpt_dir: Path) -> list[Path]:
    return sorted(p for p in ckpt_dir.rglob("*") if p.is_file() and p.name != MANIFEST)


def write_manifest(ckpt_dir: str | Path) -> Path:
    """Digest every file under ckpt_dir into ckpt_dir/manifest.json (call it after the last write)."""
    d = Path(ckpt_dir)
    files = {p.relative_to(d).as_posix(): {"size": p.stat().st_size, "sha256": file_sha256(p)} for p in _files(d)}
    tmp = d / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps({"format": FORMAT, "files": files}, indent=1))
    os.replace(tmp, d / MANIFEST)
    return d / MANIFEST


def verify_checkpoint(ckpt_dir: str | Path) -> None:
    """Raise CheckpointInvalid unless every file matches the manifest and no file is unlisted."""
    d = Path(ckpt_dir)
    man = d / MANIFEST
    if not man.is_file():
        raise CheckpointInvalid(f"{d}: no {MANIFEST} (killed while saving, or not written by radrl_dist)")
    try:
        listed = json.loads(man.read_text())["files"]
        entries = {str(k): (int(v["size"]), str(v["sha256"])) for k, v in listed.items()}
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise CheckpointInvalid(f"{man}: unreadable manifest ({type(exc).__name__}: {exc})") from None
    for rel, (size, digest) in entries.items():
        p = d / rel
        if ".." in Path(rel).parts or not p.is_file():
            raise CheckpointInvalid(f"{p}: listed in {MANIFEST} but missing")
        actual = p.stat().st_size
        if actual != size:
            raise CheckpointInvalid(f"{p}: {actual} bytes, the manifest says {size} (truncated or replaced)")
        if file_sha256(p) != digest:
            raise CheckpointInvalid(f"{p}: sha256 differs from the manifest (changed after the run saved it)")
    extra = [p for p in _files(d) if p.relative_to(d).as_posix() not in entries]
    if extra:
        raise CheckpointInvalid(f"{extra[0]}: not in {MANIFEST} (added after the run saved the checkpoint)")
