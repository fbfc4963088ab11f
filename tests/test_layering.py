"""Imports point down (README "Layering rule"), read from the source with `ast`: nothing is imported.

Why a test: an upward import or a cycle is one line to add and many to remove later (train and sft
once imported each other; models, data, boxes and labelers too, hidden by imports inside functions).
Three rules, each with the message that says what to change:
1. a unit (package) imports only units of lower layers, or a peer of its own layer that PEER_IMPORTS names;
2. no import cycle between modules (function-level imports count: hiding a cycle in a function is still one);
3. an import inside a function carries a `# lazy: <reason>` comment (on its line or the line above) and
   keeps one of LAZY_ALLOWED off the module's import path (its top-level imports, followed through
   radrl_dist and the packages' __init__ files, don't load it already).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "radrl_dist"

# Lowest first. A unit is a top-level package or module of radrl_dist, or a sub-package named on its own
# (models.families: the config lists the families, so their specs sit below it); a module belongs to the
# longest unit its name starts with, and every unit is in exactly one layer.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("constants", "_compat", "object_bytes", "recipes"),  # no radrl_dist imports
    ("boxes",),  # the Box type, geometry, per-family box codecs
    ("models.families",),  # one spec per model family (import-light: HF classes resolved by name)
    ("config",),
    ("cluster",),  # cluster descriptions, placement plans, actor groups
    ("data",),  # row schema, readers, validation, phantom set, converters
    ("models",),  # builders, loading, prompt encoding
    ("labelers",),
    ("metrics",),
    ("rewards",),
    ("grpo",),
    ("weight_sync",),
    ("rollout", "learner"),
    ("runtime",),  # run machinery every stage shares: Ray setup, data setup, sampler, metrics log
    ("evaluate", "sft", "train"),  # stages
    ("pipeline", "label", "doctor"),  # CLIs over several stages
)
PEER_IMPORTS: dict[tuple[str, str], str] = {  # (importer, imported) within one layer, and why
    ("train", "sft"): "warm start runs the SFT stage first",
    ("train", "evaluate"): "the held-out gallery draws evaluate's start/end figure",
}
# What a function-level import may keep off the import path (prefix match on the imported module).
LAZY_ALLOWED: dict[str, str] = {
    "vllm": "vLLM, only for rollout.engine=vllm",
    "deepspeed": "DeepSpeed, only on learner ranks",
    "trl": "the TRL peer baseline (bench)",
    "radgraph": "RadGraph's model, only for the radgraph_f1 reward",
    "radrl_dist.rewards.model_based": "model-based rewards load torch/transformers and weights",
    "radrl_dist.labelers.chexbert": "the CheXbert labeler loads torch/transformers; the rule labeler needs neither",
    "torch.utils.tensorboard": "TensorBoard, only with logging.tensorboard",
    "matplotlib": "plots, only when a figure is written (Agg backend chosen before pyplot loads)",
    "torch": "only in LAZY_ONLY_IN's modules",
}
LAZY_ONLY_IN: dict[str, tuple[str, ...]] = {  # allowed lazy targets that only these modules may import lazily
    "torch": ("radrl_dist.doctor",  # reports a missing or broken install before touching torch
              "radrl_dist._compat.torchvision_cpu_ops"),  # loaded by a .pth at every interpreter start
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


UNITS = [u for layer in LAYERS for u in layer]


def unit_of(module: str) -> str:
    """The longest LAYERS unit `module` is in ("" for radrl_dist/__init__.py, "?<package>" for none)."""
    if module == "radrl_dist":
        return ""
    inside = [u for u in UNITS if module == f"radrl_dist.{u}" or module.startswith(f"radrl_dist.{u}.")]
    return max(inside, key=len) if inside else "?" + module.split(".")[1]


def resolve(importer: str, node: ast.ImportFrom | ast.Import) -> list[str]:
    """Absolute module names one import statement loads (`from pkg import submodule` -> pkg.submodule)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = node.module or ""
    if node.level:
        here = importer.split(".") if MODULES[importer].name == "__init__.py" else importer.split(".")[:-1]
        here = here[: len(here) - node.level + 1]
        base = ".".join(here + ([node.module] if node.module else []))
    subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES]
    return subs if len(subs) == len(node.names) else [base, *subs]


@cache
def imports(module: str) -> tuple[tuple[str, int, bool, str], ...]:
    """(imported module, line, inside a function, source text of the statement) per import."""
    src = MODULES[module].read_text()
    lines = src.splitlines()
    out = []

    def walk(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                above = lines[child.lineno - 2] if child.lineno > 1 and lines[child.lineno - 2].strip().startswith("#") else ""
                text = "\n".join([above, *lines[child.lineno - 1: child.end_lineno]])  # a comment line above counts
                out.extend((name, child.lineno, in_function, text) for name in resolve(module, child))
            walk(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    walk(ast.parse(src), False)
    return tuple(out)


def own(name: str) -> str | None:
    """The radrl_dist module an imported name is (None for other packages)."""
    return name if name in MODULES else None


def parents(module: str) -> list[str]:
    """Packages whose __init__ runs before `module` does."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts)) if ".".join(parts[:i]) in MODULES]


@cache
def loaded_at_import(module: str) -> frozenset[str]:
    """Every module (radrl_dist or not) importing `module` loads, following top-level imports only."""
    seen: set[str] = set()
    todo = [module, *parents(module)]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        if m in MODULES:
            for name, _, in_function, _ in imports(m):
                if not in_function:
                    todo.extend([name, *parents(name)])
    return frozenset(seen - {module})


def layer_of(unit: str) -> int:
    found = [i for i, layer in enumerate(LAYERS) if unit in layer]
    where = f"radrl_dist.{unit.lstrip('?')}"
    assert len(found) == 1, f"{where} is in {len(found)} layers of tests/test_layering.py LAYERS; put it in one"
    return found[0]


def test_every_module_is_in_one_layer():
    for unit in sorted({unit_of(m) for m in MODULES} - {""}):
        layer_of(unit)


def test_packages_import_only_lower_layers():
    bad = []
    for module in MODULES:
        src = unit_of(module)
        for name, line, _, _ in imports(module):
            target = own(name)
            if not src or target is None or unit_of(target) in (src, ""):
                continue
            dst = unit_of(target)
            if layer_of(dst) > layer_of(src) or (layer_of(dst) == layer_of(src) and (src, dst) not in PEER_IMPORTS):
                bad.append(f"{MODULES[module].relative_to(ROOT.parent)}:{line} {src} -> {dst} ({target})")
    assert not bad, "imports that point up or sideways (move the shared code down, README 'Layering rule'):\n" + "\n".join(bad)


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's components with more than one module (or a module importing itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph[v]:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    graph: dict[str, set[str]] = defaultdict(set)
    for module in MODULES:
        graph[module]
        for name, _, _, _ in imports(module):
            if own(name) and own(name) != module:
                graph[module].add(name)
    cycles = strongly_connected(graph)
    assert not cycles, "import cycles (function-level imports included):\n" + "\n".join(" <-> ".join(c) for c in cycles)


def lazy_reason(text: str) -> str:
    for line in text.splitlines():
        if "# lazy:" in line:
            return line.split("# lazy:", 1)[1].strip()
    return ""


def allowed_key(name: str) -> str | None:
    keys = [k for k in LAZY_ALLOWED if name == k or name.startswith(k + ".")]
    return max(keys, key=len) if keys else None


def test_function_level_imports_keep_a_heavy_dependency_off_the_import_path():
    bad = []
    for module in MODULES:
        loaded = loaded_at_import(module)
        for name, line, in_function, text in imports(module):
            if not in_function:
                continue
            where = f"{MODULES[module].relative_to(ROOT.parent)}:{line} imports {name} inside a function"
            key = allowed_key(name)
            if key is None:
                bad.append(f"{where}: not a heavy optional dependency (LAZY_ALLOWED); import it at module top")
            elif module not in LAZY_ONLY_IN.get(key, (module,)):
                bad.append(f"{where}: {key} is lazy only in {', '.join(LAZY_ONLY_IN[key])}; import it at module top")
            elif (name in loaded) if own(name) else any(m == key or m.startswith(key + ".") for m in loaded):
                bad.append(f"{where}: the module's top-level imports load it already; import it at module top")
            elif len(lazy_reason(text).split()) < 2:
                bad.append(f"{where}: say why on the line, '# lazy: <reason>'")
    assert not bad, "\n".join(bad)


def readme_layers() -> list[tuple[str, ...]]:
    """The package column of README's package table, row by row (repository folders like `docker/` left out)."""
    text = (ROOT.parent / "README.md").read_text()
    rows = text.split("| package (lowest layer first) | one job |\n|---|---|\n", 1)[1].split("\n\n", 1)[0]
    out = []
    for row in rows.splitlines():
        names = [n.removeprefix("radrl_dist/") for n in row.split("|")[1].split("`")[1::2]]
        out.append(tuple(n.replace("/", ".") for n in names if not n.endswith("/")))
    return out


def test_readme_package_table_is_the_layer_table():
    assert readme_layers() == [tuple(layer) for layer in LAYERS]


# The checker itself, on made-up sources: each rule catches what it is for.
def test_checker_sees_a_cycle_and_a_function_level_import():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert strongly_connected(graph) == [["a", "b", "c"]]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []
    assert allowed_key("torch.utils.tensorboard") == "torch.utils.tensorboard"
    assert allowed_key("torch") == "torch" and allowed_key("torchvision") is None
    assert allowed_key("radrl_dist.rewards.model_based.bertscore") == "radrl_dist.rewards.model_based"
    assert lazy_reason("import vllm  # lazy: vLLM only for engine=vllm") == "vLLM only for engine=vllm"


@pytest.mark.parametrize(("module", "kept_off"), [
    ("radrl_dist.rollout.engines", "vllm"),  # the HF engine's runs never load vLLM
    ("radrl_dist.rewards.composite", "torch"),  # rule and NLG rewards: no torch in a reward process
    ("radrl_dist.rewards.model_based.factory", "torch"),  # choosing a scorer loads none of them
    ("radrl_dist.runtime.metrics_log", "torch.utils.tensorboard"),  # TensorBoard only when asked for
])
def test_lazy_imports_keep_what_they_are_for_off_the_path(module, kept_off):
    """What the lazy imports exist for: the modules that choose vLLM or a model-based scorer don't load them."""
    loaded = loaded_at_import(module)
    assert not any(m == kept_off or m.startswith(kept_off + ".") for m in loaded), sorted(loaded)
