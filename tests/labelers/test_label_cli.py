"""`python -m radrl_dist.label`: JSONL in, labels out."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from radrl_dist.constants import CHEXPERT_OBSERVATIONS
from radrl_dist.label import main
from radrl_dist.labelers.tiny_chexbert import build_tiny_chexbert


def test_rules_cli(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": 7, "text": "Small left pleural effusion. No pneumothorax."}) + "\n\n"
                   + json.dumps({"text": ""}) + "\n")
    dst = tmp_path / "out" / "labels.jsonl"
    assert main(["--labeler", "rules", "--input", str(src), "--output", str(dst)]) == 0
    rows = [json.loads(x) for x in dst.read_text().splitlines()]
    assert len(rows) == 2 and rows[0]["id"] == 7 and list(rows[0]["labels"]) == list(CHEXPERT_OBSERVATIONS)
    assert rows[0]["labels"]["Pleural Effusion"] == "positive" and rows[0]["labels"]["Pneumothorax"] == "negative"
    assert set(rows[1]["labels"].values()) == {"blank"} and rows[0]["labeler"].startswith("rules-")


def test_chexbert_cli_and_errors(tmp_path):
    ckpt = build_tiny_chexbert(tmp_path / "m")
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"text": "Cardiomegaly."}) + "\n")
    dst = tmp_path / "o.jsonl"
    assert main(["--labeler", f"chexbert:{ckpt}", "--input", str(src), "--output", str(dst)]) == 0
    row = json.loads(dst.read_text())
    assert set(row["labels"].values()) <= {"positive", "negative", "uncertain", "blank"}
    src.write_text('{"txt": 1}\n')
    with pytest.raises(SystemExit, match="text"):
        main(["--input", str(src), "--output", str(dst)])
    with pytest.raises(SystemExit):
        main(["--labeler", "chexbert:/nope.pth", "--input", str(src), "--output", str(dst)])


def test_tokenizer_folder_with_only_vocab_is_one_line(tmp_path, capsys):
    ckpt = build_tiny_chexbert(tmp_path / "m")
    tok = tmp_path / "tok"
    tok.mkdir()
    (tok / "vocab.txt").write_bytes((ckpt.parent / "tokenizer" / "vocab.txt").read_bytes())
    src, dst = tmp_path / "in.jsonl", tmp_path / "o.jsonl"
    src.write_text(json.dumps({"text": "Cardiomegaly."}) + "\n")
    assert main(["--labeler", f"chexbert:{ckpt}", "--tokenizer", str(tok), "--input", str(src), "--output", str(dst)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: cannot load labeler 'chexbert:{ckpt}' with tokenizer folder {tok} (holds ['vocab.txt']): "
                   "it needs tokenizer.json or tokenizer_config.json beside vocab.txt; copy the whole "
                   "bert-base-uncased tokenizer folder")
    assert not dst.exists()


def test_help():
    out = subprocess.run([sys.executable, "-m", "radrl_dist.label", "--help"], capture_output=True, text=True, check=True)
    assert "--labeler" in out.stdout and "chexbert:PATH" in out.stdout
