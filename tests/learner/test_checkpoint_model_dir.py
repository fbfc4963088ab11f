"""A model folder with a pickle payload in any of its files loads nothing that runs it.

Each file of the tiny model's folder in turn is replaced by a pickle whose unpickling writes a marker
(and a `pytorch_model.bin` payload sits beside the weights throughout); the policy and processor
loaders must never run it: the folder check refuses the file by name before transformers reads it,
and a folder with only pickle weights is refused.
"""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import pytest

from radrl_dist.config.schema import ModelConfig
from radrl_dist.models.loading import load_policy, load_processor, resolve_model_path


class _Payload:
    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('ran')",))


def test_payload_in_any_model_file_never_runs(tiny_path, tmp_path):
    marker = tmp_path / "payload_ran"
    payload = pickle.dumps(_Payload(marker))
    pickle.loads(pickle.dumps(_Payload(tmp_path / "live")))  # the payload is live when unpickled
    assert (tmp_path / "live").exists()
    files = sorted(p.name for p in Path(tiny_path).iterdir() if p.is_file())
    assert "model.safetensors" in files and "config.json" in files
    for name in files:
        d = tmp_path / name.replace(".", "_")
        shutil.copytree(tiny_path, d)
        (d / "pytorch_model.bin").write_bytes(payload)  # beside the weights: never read
        (d / name).write_bytes(payload)
        with pytest.raises(ValueError) as err:
            path = resolve_model_path(ModelConfig(path=str(d)))
            load_processor(path)  # reached only if the check let the file through
            load_policy(path)
        assert str(err.value).startswith(f"{d / name}: not a "), str(err.value)
        assert not marker.exists(), f"payload in {name} ran"


def test_folder_with_only_pickle_weights_is_refused(tiny_path, tmp_path):
    d = tmp_path / "model"
    shutil.copytree(tiny_path, d)
    (d / "model.safetensors").unlink()
    (d / "pytorch_model.bin").write_bytes(pickle.dumps(_Payload(tmp_path / "payload_ran")))
    with pytest.raises(ValueError, match=r"holds only pickle files \(pytorch_model.bin\).*safetensors only"):
        resolve_model_path(ModelConfig(path=str(d)))
    assert not (tmp_path / "payload_ran").exists()
