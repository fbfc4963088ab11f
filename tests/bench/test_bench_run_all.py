"""bench/run_all.py: per-script budgets, --only and --merge, on a throwaway bench dir of tiny scripts."""

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from bench import run_all


def write_script(d: Path, name: str, figures: dict, budget: int | None = None, sleep: float = 0.0) -> None:
    head = f"BENCH_TIMEOUT_S = {budget}\n" if budget is not None else ""
    d.joinpath(name).write_text(head + textwrap.dedent(f"""
        import json, time
        time.sleep({sleep})
        print("progress line")
        print(json.dumps({figures!r}))
    """))


@pytest.fixture
def bench_dir(tmp_path):
    d = tmp_path / "bench"
    d.mkdir()
    write_script(d, "a.py", {"speed": 1.0})
    write_script(d, "b.py", {"gain": 0.5, "detail": [1, 2]})
    write_script(d, "slow.py", {"never": 1}, budget=1, sleep=30)
    write_script(d, "_shared.py", {"not": "a bench"})
    write_script(d, "run_all.py", {"not": "a bench"})
    return d


def test_declared_budget_is_read_without_importing(tmp_path):
    p = tmp_path / "s.py"
    p.write_text("import no_such_module_anywhere\nBENCH_TIMEOUT_S = 5400\n")
    assert run_all.declared_timeout(p, 600) == 5400
    p.write_text("X = 1\n")
    assert run_all.declared_timeout(p, 600) == 600
    p.write_text("BENCH_TIMEOUT_S = 60 * 90\n")
    with pytest.raises(ValueError, match="s.py: BENCH_TIMEOUT_S must be a positive int literal"):
        run_all.declared_timeout(p, 600)


def test_the_long_scripts_declare_their_budgets():
    bench = Path(run_all.__file__).parent
    assert run_all.declared_timeout(bench / "learning.py", 600) >= 5400
    assert run_all.declared_timeout(bench / "parity_trl.py", 600) >= 1800
    names = [p.name for p in run_all.bench_scripts(bench)]
    assert "learning.py" in names and "parity_trl.py" in names and "_tiny_grpo_job.py" not in names


def test_only_keeps_the_given_order_and_names_unknown_scripts(bench_dir):
    assert [p.name for p in run_all.select_scripts(bench_dir, None)] == ["a.py", "b.py", "slow.py"]
    assert [p.name for p in run_all.select_scripts(bench_dir, "b.py,a.py")] == ["b.py", "a.py"]
    with pytest.raises(ValueError, match=r"unknown bench script\(s\) \['c.py', '_shared.py'\]"):
        run_all.select_scripts(bench_dir, "a.py,c.py,_shared.py")


def test_only_then_merge_replaces_just_those_entries(bench_dir, capsys):
    assert run_all.main(["--only", "b.py,slow.py,a.py"], bench_dir=bench_dir) == 1  # slow.py times out
    (report_path,) = (bench_dir / "results").glob("*.json")
    report = json.loads(report_path.read_text())
    assert [r["script"] for r in report["results"]] == ["b.py", "slow.py", "a.py"]
    slow = report["results"][1]
    assert slow["rc"] == -1 and slow["timeout_s"] == 1 and slow["error"] == "timeout after 1s"
    assert report["results"][0]["timeout_s"] == run_all.DEFAULT_TIMEOUT_S
    assert all(r["commit"] and r["ran_at"].endswith("Z") for r in report["results"])
    b_before = report["results"][0]

    write_script(bench_dir, "a.py", {"speed": 2.0})
    write_script(bench_dir, "slow.py", {"fixed": 3})
    assert run_all.main(["--only", "slow.py,a.py", "--merge", str(report_path)], bench_dir=bench_dir) == 0
    merged = json.loads(report_path.read_text())
    assert [r["script"] for r in merged["results"]] == ["b.py", "slow.py", "a.py"]
    assert merged["results"][0] == b_before  # not rerun, kept as it was
    assert merged["results"][1]["figures"] == {"fixed": 3} and merged["results"][2]["figures"] == {"speed": 2.0}
    md = report_path.with_suffix(".md").read_text()
    assert "| a.py | speed | 2.0 |" in md and "| a.py | speed | 1.0 |" not in md
    assert "| slow.py | fixed | 3 |" in md and "| b.py | gain | 0.5 |" in md and "detail" not in md
    assert list((bench_dir / "results").glob("*.json")) == [report_path]  # merged in place, no new report


def test_merge_into_something_that_is_not_a_report_is_a_clear_error(bench_dir, tmp_path, capsys):
    bad = tmp_path / "x.json"
    bad.write_text('{"date": "2026-12-02"}')
    assert run_all.main(["--only", "a.py", "--merge", str(bad)], bench_dir=bench_dir) == 2
    assert "not a bench report (no 'results' list)" in capsys.readouterr().err
    assert run_all.main(["--only", "nope.py"], bench_dir=bench_dir) == 2
    assert "unknown bench script(s) ['nope.py']" in capsys.readouterr().err


def test_commit_names_the_checkout_or_what_the_caller_says(tmp_path, monkeypatch):
    monkeypatch.delenv("BENCH_COMMIT", raising=False)
    assert run_all.git_describe(tmp_path) == "unknown"  # not a git checkout
    repo = tmp_path / "checkout"  # a throwaway checkout: the suite may run from a copy that is not one
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(git + ["init", "-q"], check=True)
    (repo / "f").write_text("x")
    subprocess.run(git + ["add", "f"], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "c"], check=True)
    commit = subprocess.run(git + ["rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    assert run_all.git_describe(repo) == commit
    (repo / "f").write_text("y")
    assert run_all.git_describe(repo) == f"{commit}-dirty"
    monkeypatch.setenv("BENCH_COMMIT", "6d5e9dd-dirty (snapshot)")
    assert run_all.git_describe(tmp_path) == "6d5e9dd-dirty (snapshot)"


def test_merge_results_appends_scripts_the_report_did_not_have():
    old = [{"script": "a.py", "v": 1}, {"script": "b.py", "v": 1}]
    new = [{"script": "c.py", "v": 2}, {"script": "a.py", "v": 2}]
    assert run_all.merge_results(old, new) == [{"script": "a.py", "v": 2}, {"script": "b.py", "v": 1},
                                                {"script": "c.py", "v": 2}]
