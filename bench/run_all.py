"""`make bench`: run every bench/*.py, collect each script's last-line JSON, write a dated report.

Writes bench/results/<date>-<host>.json (all figures, per script, with wall time, exit code, the git
commit (`git describe --always --dirty`, or $BENCH_COMMIT for a run from a copy of the tree) and the
UTC time it ran) and the same as a markdown table (.md). A script that fails is recorded with its
error, never dropped. The report is rewritten after every script, so a long run that is killed keeps
what finished.

Each script gets 600 s (or $BENCH_TIMEOUT_S) unless it declares its own budget with a module-level
`BENCH_TIMEOUT_S = <int>` (read from the source, the script is not imported): learning.py and
parity_trl.py run for tens of minutes.

    python -m bench.run_all                                  # every script, a new dated report
    python -m bench.run_all --only learning.py,parity_trl.py # just these, in this order
    python -m bench.run_all --only step.py --merge bench/results/2026-12-02-vm.json
        # run step.py and replace its entry in that report (others' entries are kept as they are)
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
# gpu*.py: bench/gpu.py and its helper modules run on a GPU machine (see gpu.py's docstring)
SKIP = {"run_all.py", "__init__.py", "gpu.py", "gpu_bootstrap.py", "gpu_checks.py", "gpu_jobs.py"}
DEFAULT_TIMEOUT_S = 600
BUDGET_NAME = "BENCH_TIMEOUT_S"


def last_json_line(text: str) -> dict | None:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                return None
    return None


def declared_timeout(path: Path, default: int) -> int:
    """The script's own `BENCH_TIMEOUT_S = <int>` (top level), else `default`. Read with ast, so a
    script is never imported (and its heavy imports never run) just to learn its budget."""
    for node in ast.parse(path.read_text(), filename=str(path)).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == BUDGET_NAME for t in targets):
            value = node.value
            if not (isinstance(value, ast.Constant) and type(value.value) is int and value.value > 0):
                raise ValueError(f"{path.name}: {BUDGET_NAME} must be a positive int literal, got {ast.unparse(value)}")
            return value.value
    return default


def bench_scripts(bench_dir: Path) -> list[Path]:
    """Every runnable bench script (not run_all, not the GPU ones, not `_*` shared modules)."""
    return sorted(p for p in bench_dir.glob("*.py") if p.name not in SKIP and not p.name.startswith("_"))


def select_scripts(bench_dir: Path, only: str | None) -> list[Path]:
    """All scripts, or the comma-separated `only` names in the order given; an unknown name is an error."""
    scripts = bench_scripts(bench_dir)
    if not only:
        return scripts
    by_name = {p.name: p for p in scripts}
    names = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in names if n not in by_name]
    if unknown or not names:
        raise ValueError(f"--only: unknown bench script(s) {unknown or only!r}; known: {', '.join(sorted(by_name))}")
    return [by_name[n] for n in dict.fromkeys(names)]


def git_describe(repo: Path) -> str:
    """`git describe --always --dirty` of the tree the scripts ran from ('unknown' outside a git checkout);
    $BENCH_COMMIT instead when set (a run from a copy of a checkout names the checkout it was copied from)."""
    if os.environ.get("BENCH_COMMIT"):
        return os.environ["BENCH_COMMIT"]
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=repo, capture_output=True, text=True,
                             timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"


def run_script(path: Path, timeout_s: int, cwd: Path | None = None) -> dict:
    cwd = cwd or path.parent.parent
    start = time.time()
    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # its own process group: on timeout the script's children (training runs, Ray) go with it
    proc = subprocess.Popen([sys.executable, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=cwd, env=env, start_new_session=True)
    try:
        out, err_text = proc.communicate(timeout=timeout_s)
        rc = proc.returncode
        err = err_text[-2000:] if rc else ""
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        rc, err = -1, f"timeout after {timeout_s}s"
    figures = last_json_line(out)
    return {"script": path.name, "rc": rc, "wall_s": round(time.time() - start, 1), "timeout_s": timeout_s,
            "ran_at": started, "commit": git_describe(cwd), "figures": figures,
            "error": err if (rc or figures is None) else ""}


def merge_results(existing: list[dict], new: list[dict]) -> list[dict]:
    """`existing` with each script in `new` replacing its entry in place (new scripts go last)."""
    fresh = {r["script"]: r for r in new}
    out = [fresh.pop(r["script"], r) for r in existing]
    return out + [r for r in new if r["script"] in fresh]


def to_markdown(report: dict) -> str:
    lines = [f"# Benchmarks {report['date']} on {report['host']}", "", f"{report['machine']}", "",
             "| script | ran at (UTC) | commit | wall s | rc |", "|---|---|---|---|---|"]
    for r in report["results"]:
        lines.append(f"| {r['script']} | {r.get('ran_at', '?')} | {r.get('commit', '?')} | {r['wall_s']} | {r['rc']} |")
    lines += ["", "| script | figure | value |", "|---|---|---|"]
    for r in report["results"]:
        if not r["figures"]:
            lines.append(f"| {r['script']} | (failed, rc {r['rc']}) | {r['error'][-120:]!r} |")
            continue
        for k, v in r["figures"].items():
            if isinstance(v, (list, dict)):  # per-size detail stays in the JSON
                continue
            lines.append(f"| {r['script']} | {k} | {v} |")
    return "\n".join(lines) + "\n"


def write_report(report: dict, json_path: Path) -> None:
    """The report as JSON and, beside it, as markdown (each written whole, then renamed into place)."""
    json_path.parent.mkdir(parents=True, exist_ok=True)
    for path, text in ((json_path, json.dumps(report, indent=1)), (json_path.with_suffix(".md"), to_markdown(report))):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)


def load_report(path: Path) -> dict:
    try:
        report = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"--merge {path}: not a readable bench report ({exc})") from None
    if not isinstance(report, dict) or not isinstance(report.get("results"), list):
        raise ValueError(f"--merge {path}: not a bench report (no 'results' list)")
    return report


def main(argv: list[str] | None = None, bench_dir: Path = BENCH_DIR) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.run_all", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", metavar="A.py,B.py", help="run only these scripts, in this order")
    ap.add_argument("--merge", metavar="REPORT.json", help="replace these scripts' entries in an existing report "
                    "(and its .md) instead of writing a new dated one")
    args = ap.parse_args(argv)
    try:
        scripts = select_scripts(bench_dir, args.only)
        default = int(os.environ.get("BENCH_TIMEOUT_S", DEFAULT_TIMEOUT_S))
        budgets = {p.name: declared_timeout(p, default) for p in scripts}
        base = load_report(Path(args.merge)) if args.merge else None
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    now = dt.datetime.now(dt.timezone.utc)
    host = socket.gethostname()
    if base is None:
        report = {"date": now.strftime("%Y-%m-%d"), "host": host, "machine": f"{os.cpu_count()} CPUs, no GPU", "results": []}
        out = bench_dir / "results" / f"{report['date']}-{host}.json"
    else:
        report, out = base, Path(args.merge)
    done = []
    for p in scripts:
        print(f"== {p.name} (budget {budgets[p.name]} s)", flush=True)
        r = run_script(p, budgets[p.name], bench_dir.parent)
        print(f"   rc={r['rc']} wall={r['wall_s']}s figures={r['figures']}", flush=True)
        done.append(r)
        report["results"] = merge_results(report["results"], [r])
        write_report(report, out)  # after every script: a killed long run keeps what finished
    print(f"wrote {out} and {out.with_suffix('.md').name}")
    return 0 if all(r["rc"] == 0 and r["figures"] for r in done) else 1


if __name__ == "__main__":
    raise SystemExit(main())
