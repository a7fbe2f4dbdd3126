"""Third-party plugins: a real package under tests/plugin registers a task and a verifier via entry points."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rft import registry

PLUGIN = Path(__file__).parent / "plugin"


def test_builtins_are_entry_points_and_listing_imports_nothing_heavy() -> None:
    assert {"gsm8k", "arith"} <= set(registry.names("task"))
    assert "numeric" in registry.names("verifier") and "transformers" in registry.names("engine")
    code = "import sys, rft.registry as r; r.describe('engine'); r.describe('task'); print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(PLUGIN)], check=True, capture_output=True)
    return target


def test_installed_plugin_task_runs_through_the_cli(plugin_site: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": f"{plugin_site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    listing = subprocess.run([sys.executable, "-m", "rft.cli", "tasks"], env=env, capture_output=True, text=True)
    assert "squares" in listing.stdout and "rft_example_plugin:SquaresTask" in listing.stdout
    out = tmp_path / "run"
    gen = subprocess.run([sys.executable, "-m", "rft.cli", "generate", "--task", "squares", "--task-arg", "count=3",
                          "--model", "tiny-random-llama", "--n", "2", "--max-new-tokens", "4", "--out", str(out),
                          "--no-progress"], env=env, capture_output=True, text=True)
    assert gen.returncode == 0, gen.stderr
    config = (out / "config.json").read_text()
    assert '"name": "squares"' in config and '"name": "exact"' in config
    assert sum(1 for _ in (out / "samples.jsonl").open()) == 6
