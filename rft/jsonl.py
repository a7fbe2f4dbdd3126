"""JSON-lines reading and crash-safe appending.

`read_jsonl` names the file and line of a malformed row. `JsonlAppender` writes whole groups of
lines with one ``write`` + ``fsync`` so a kill -9 can leave at most one torn line at the end, which
`recover` truncates on the next open.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from rft.errors import DataError


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield one dict per non-blank line; a bad line raises `DataError` naming file and line."""
    for _, row in numbered_jsonl(path):
        yield row


def numbered_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Like `read_jsonl`, with each row's 1-based line number (for error messages)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{lineno}: malformed JSON ({e.msg} at column {e.colno})") from None
            if not isinstance(row, dict):
                raise DataError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
            yield lineno, row


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write rows atomically (temp file + rename); returns the row count."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    with tmp.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return n


def write_json(path: str | Path, obj: Any) -> None:
    """Write one JSON document atomically, pretty-printed."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def recover(path: str | Path) -> list[dict[str, Any]]:
    """Read an append-only JSONL file, truncating a torn last line left by a crash."""
    path = Path(path)
    if not path.exists():
        return []
    rows: list[dict[str, Any]] = []
    good_end = 0
    with path.open("rb") as f:
        for raw in f:
            try:
                if not raw.endswith(b"\n"):
                    raise ValueError("torn line")
                if raw.strip():
                    rows.append(json.loads(raw))
            except ValueError:
                break
            good_end += len(raw)
    if good_end != path.stat().st_size:
        with path.open("r+b") as f:
            f.truncate(good_end)
    return rows


class JsonlAppender:
    """Append groups of rows; each group lands with one write and one fsync."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._f = self.path.open("a", encoding="utf-8")

    def append(self, rows: Iterable[dict[str, Any]]) -> None:
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        if text:
            self._f.write(text)
            self._f.flush()
            os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
