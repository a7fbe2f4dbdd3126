"""The `rft` command line: listings, help, and one-line errors for each kind of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rft.cli import main, parse_kv, parse_shard
from rft.errors import RftError


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_listings(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["tasks"], capsys)
    assert code == 0 and "gsm8k" in out and "arith" in out
    assert "numeric" in run(["verifiers"], capsys)[1]
    assert "transformers" in run(["engines"], capsys)[1]
    assert "qwen2.5-coder-0.5b-instruct" in run(["models"], capsys)[1]


def test_help_explains(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    out = capsys.readouterr().out
    assert "--shard" in out and "resum" in out


@pytest.mark.parametrize("args,message", [
    (["generate", "--task", "nope"], "installed tasks: arith"),
    (["generate", "--task", "arith", "--verifier", "nope"], "installed verifiers:"),
    (["generate", "--task", "arith", "--engine", "nope"], "installed engines:"),
    (["generate", "--task", "arith", "--model", "no-such-model"], "catalog name"),
    (["generate", "--task", "gsm8k", "--data", "missing.jsonl"], "data file not found: missing.jsonl"),
    (["generate", "--task", "arith", "--task-arg", "bogus=1"], "it accepts: count"),
    (["generate", "--task", "arith", "--task-arg", "oops"], "expects key=value"),
    (["generate", "--task", "arith", "--n", "0"], "n must be >= 1"),
    (["generate", "--task", "arith", "--shard", "3/2"], "need 0 <= i < N"),
    (["export", "nowhere", "--out", "x"], "not a run directory"),
])
def test_bad_input_is_one_clear_line(args: list[str], message: str, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    if args[0] == "generate":
        args = args + ["--out", str(tmp_path / "run"), "--no-progress"]
    code, _, err = run(args, capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and message in err, err


def test_malformed_row_names_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "g.jsonl"
    data.write_text(json.dumps({"query": "q", "response": "#### 1"}) + "\n{broken\n")
    code, _, err = run(["generate", "--task", "gsm8k", "--data", str(data), "--out", str(tmp_path / "r")], capsys)
    assert code == 2 and f"{data}:2: malformed JSON" in err


def test_parsers() -> None:
    assert parse_kv(["a=1", "b=x", "c=true", "d-e=0.5"], "--x") == {"a": 1, "b": "x", "c": True, "d_e": 0.5}
    assert parse_shard("1/4") == (1, 4) and parse_shard(None) is None
    with pytest.raises(RftError):
        parse_shard("a/b")
