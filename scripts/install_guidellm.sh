#!/usr/bin/env bash
# GuideLLM in a venv of its own, outside the repository: one of the load
# generators benchmarks/loadgen_capacity.py measures ours against.
# It needs a tokenizer it can load offline: the benchmark makes one.
# Idempotent: a venv whose guidellm already has this version is left as it is.
set -euo pipefail

GUIDELLM_VERSION=${GUIDELLM_VERSION:-0.8.1}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
VENV=${GUIDELLM_VENV:-$HOME/.cache/autotuner/guidellm-venv}
PY=${PY:-$(command -v python3.11 || command -v python3)}

ok() { "$VENV/bin/python" -c "import importlib.metadata as md, sys; assert md.version('guidellm') == sys.argv[1]; import guidellm" "$GUIDELLM_VERSION" 2>/dev/null; }

if [ -x "$VENV/bin/python" ] && ok; then
  echo "guidellm $GUIDELLM_VERSION already in $VENV"
  exit 0
fi
echo "installing guidellm $GUIDELLM_VERSION into $VENV"
mkdir -p "$(dirname "$VENV")"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
# guidellm pulls torch; left to itself pip picks a CUDA build and its
# gigabytes of nvidia-* wheels. The CPU wheel first meets the requirement.
"$VENV/bin/pip" install -q "torch==$TORCH_VERSION"
"$VENV/bin/pip" install -q "guidellm==$GUIDELLM_VERSION"
ok || { echo "guidellm $GUIDELLM_VERSION installed but does not import" >&2; exit 1; }
echo "guidellm $GUIDELLM_VERSION ready: $VENV/bin/guidellm"
