"""`make bench`: run every bench/*.py, collect each script's last-line JSON, write a dated report.

Writes bench/results/<date>-<host>.json (all figures, per script, with wall time and exit code) and
the same as a markdown table (.md). A script that fails is recorded with its error, never dropped.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
# gpu*.py: bench/gpu.py and its helper modules run on a GPU machine (see gpu.py's docstring)
SKIP = {"run_all.py", "__init__.py", "gpu.py", "gpu_bootstrap.py", "gpu_checks.py", "gpu_jobs.py"}


def last_json_line(text: str) -> dict | None:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                return None
    return None


def run_script(path: Path, timeout_s: int) -> dict:
    start = time.time()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    try:
        proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=timeout_s,
                              cwd=BENCH_DIR.parent, env=env)
        out, rc = proc.stdout, proc.returncode
        err = proc.stderr[-2000:] if rc else ""
    except subprocess.TimeoutExpired as exc:
        out, rc, err = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or ""), -1, f"timeout after {timeout_s}s"
    figures = last_json_line(out)
    return {"script": path.name, "rc": rc, "wall_s": round(time.time() - start, 1), "figures": figures,
            "error": err if (rc or figures is None) else ""}


def to_markdown(report: dict) -> str:
    lines = [f"# Benchmarks {report['date']} on {report['host']}", "", f"{report['machine']}", "",
             "| script | figure | value |", "|---|---|---|"]
    for r in report["results"]:
        if not r["figures"]:
            lines.append(f"| {r['script']} | (failed, rc {r['rc']}) | {r['error'][-120:]!r} |")
            continue
        for k, v in r["figures"].items():
            if isinstance(v, (list, dict)):  # per-size detail stays in the JSON
                continue
            lines.append(f"| {r['script']} | {k} | {v} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    timeout_s = int(os.environ.get("BENCH_TIMEOUT_S", "600"))
    scripts = sorted(p for p in BENCH_DIR.glob("*.py") if p.name not in SKIP and not p.name.startswith("_"))  # _*: shared modules
    results = []
    for p in scripts:
        print(f"== {p.name}", flush=True)
        r = run_script(p, timeout_s)
        print(f"   rc={r['rc']} wall={r['wall_s']}s figures={r['figures']}", flush=True)
        results.append(r)
    now = dt.datetime.now(dt.timezone.utc)
    host = socket.gethostname()
    report = {"date": now.strftime("%Y-%m-%d"), "host": host, "machine": f"{os.cpu_count()} CPUs, no GPU",
              "results": results}
    out = BENCH_DIR / "results" / f"{report['date']}-{host}"
    out.parent.mkdir(exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1))
    out.with_suffix(".md").write_text(to_markdown(report))
    print(f"wrote {out}.json and .md")
    return 0 if all(r["rc"] == 0 and r["figures"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
