#!/usr/bin/env bash
# The ensemble/compile checks that need a CUDA GPU, sized to about 8 minutes on an H100:
#   bash benchmarks/gpu_check.sh OUT_DIR
# 1. the CUDA-only tests (test_gpu.py, the CUDA cases of test_stack.py / test_capture.py / test_evaluate.py);
# 2. benchmarks/ensemble.py for DCGAN-28 k = 8 and ring8 MLP k = 64 (each with k = 1 for the single run):
#    eager sequential vs eager ensemble vs the compiled ensemble (reduce-overhead, then default), with
#    compile time apart, steady member-steps/s and the GPU's share of time busy in kernels.
# Every phase runs under `timeout` (budgets below, ~440 s in all); rows reach the files as they are
# measured, so a phase cut short still leaves what it finished. Writes at most 6 files directly under
# OUT_DIR: summary.txt (hardware, per-phase wall time and exit status, CUDA-graph skips), tests.txt,
# ensemble_dcgan.txt, ensemble_ring8.txt (the printed tables), rows.jsonl (every measurement, one JSON
# line each) and bench_stderr.txt (warnings and torch's perf hints, e.g. why a CUDA graph was skipped).
# Assumes `import ganbench` works (PYTHONPATH set by the device setup line, or the project's venv).
# DRY_RUN=1: the same phases on the CPU with tiny sizes and the default mode only (a smoke test of
# this script; compiling on a small CPU takes minutes).
set -uo pipefail
OUT=${1:?usage: bash benchmarks/gpu_check.sh OUT_DIR}
cd "$(dirname "$0")/.."
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
PY=${PYTHON:-python3}
if [ -z "${PYTHON:-}" ] && [ -x .venv/bin/python ] && .venv/bin/python -c 'import ganbench' 2>/dev/null; then
  PY=.venv/bin/python
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
S="$OUT/summary.txt"
: > "$OUT/rows.jsonl"
: > "$OUT/bench_stderr.txt"

if [ "${DRY_RUN:-0}" = 1 ]; then
  DEV=(--device cpu --threads 2) STEPS=(--steps 3 --warmup 2) MODES=default
  KS_DCGAN=2 KS_RING=2 T_TESTS=${T_TESTS:-120} T_DCGAN=${T_DCGAN:-300} T_RING=${T_RING:-240}
else
  if ! "$PY" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())'; then
    echo "gpu_check.sh: torch sees no CUDA GPU (DRY_RUN=1 for a CPU smoke test)" >&2; exit 2
  fi
  DEV=(--device cuda) STEPS=(--steps 30 --warmup 5) MODES=reduce-overhead,default
  KS_DCGAN=8,1 KS_RING=64,1 T_TESTS=${T_TESTS:-150} T_DCGAN=${T_DCGAN:-170} T_RING=${T_RING:-120}
fi

{ date -u; "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  echo "cores: $(nproc)"; } > "$S" 2>&1

phase() {  # NAME BUDGET_S OUTFILE COMMAND... : run under timeout, record wall time and exit status
  local name=$1 budget=$2 out=$3 t0 rc
  shift 3
  t0=$(date +%s)
  timeout --kill-after=10 "$budget" "$@" > "$out" 2>> "$OUT/bench_stderr.txt"
  rc=$?
  echo "$name: $(( $(date +%s) - t0 )) s of $budget s, exit $rc$([ $rc = 124 ] && echo ' (timed out: rows so far kept)')" >> "$S"
}

# 1. CUDA-only tests (on a CPU they are all skipped: the selection itself is what a dry run checks)
# one line per test as it ends (-vv: pyproject adds -q), so a cut-short phase still says what passed; the compiled one last
phase tests "$T_TESTS" "$OUT/tests.txt" "$PY" -m pytest -vv -p no:cacheprovider -rs -s --durations=5 \
  tests/training/test_gpu.py tests/training/test_stack.py tests/test_evaluate.py tests/study/test_calibration_device.py \
  tests/training/test_capture.py \
  -k "cuda or gpu"
{ echo "  tests: $(grep -c ' PASSED' "$OUT/tests.txt") passed, $(grep -c ' FAILED\| ERROR' "$OUT/tests.txt") failed or errors, $(grep -c ' SKIPPED' "$OUT/tests.txt") skipped"
  grep ' FAILED\| ERROR' "$OUT/tests.txt" | head -5 | sed 's/^/  tests: /'; } >> "$S"

# 2. ensembles, eager and compiled; perf hints say when and why a CUDA graph was not used
export TORCH_LOGS=${TORCH_LOGS:-perf_hints}
bench() {  # CASE KS BUDGET
  phase "ensemble $1 k=$2" "$3" "$OUT/ensemble_$1.txt" "$PY" benchmarks/ensemble.py "${DEV[@]}" "${STEPS[@]}" \
    --cases "$1" --ks "$2" --compile "$MODES" --out "$OUT/rows.jsonl"
}
bench dcgan "$KS_DCGAN" "$T_DCGAN"
bench ring8 "$KS_RING" "$T_RING"

{ echo "rows measured: $(wc -l < "$OUT/rows.jsonl")"
  echo "CUDA-graph skips (perf hints): $(grep -ci 'skipping cudagraphs' "$OUT/bench_stderr.txt")"
  grep -i 'skipping cudagraphs' "$OUT/bench_stderr.txt" | sort | uniq -c | head -5
  grep -i 'fell back to eager\|not possible here' "$OUT/bench_stderr.txt" "$OUT"/ensemble_*.txt | head -3
  date -u; } >> "$S"
# keep the stderr file small enough to come back whole
tail -c 200000 "$OUT/bench_stderr.txt" > "$OUT/bench_stderr.tmp" && mv "$OUT/bench_stderr.tmp" "$OUT/bench_stderr.txt"
cat "$S"
