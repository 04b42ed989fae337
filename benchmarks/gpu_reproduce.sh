#!/usr/bin/env bash
# PacGAN's comparisons on one CUDA GPU, sized to about 4 minutes on an H100 (see benchmarks/REPRODUCTION.md):
#   bash benchmarks/gpu_reproduce.sh OUT_DIR
# Writes OUT_DIR/pacgan-2d/ and OUT_DIR/pacgan-stacked-mnist/ (report.html, results.csv, results.json,
# reference.csv and reference.md: our numbers beside the published ones with consistency marks),
# OUT_DIR/hardware.txt and OUT_DIR/timing.txt. Knobs (environment): SCALE_2D and SCALE_SM (fractions of the full budget, default 0.01
# each: 4,000 and 1,000 steps, 3 seeds; 1 runs the spec as written), SPEC_2D (another 2-D spec, e.g. the
# 10-seed one benchmarks/gpu_prepare.sh writes), WORKERS (concurrent runs sharing the GPU, default 8), PYTHON,
# DEADLINE_S (stop each study when this many seconds have passed since the start, so a device call ends
# inside its limit; a stopped study keeps its finished runs and `study resume` goes on from them).
# PACK_DIR: at the end, also write PACK_DIR/reproduce.tgz (OUT_DIR without checkpoints) beside copies of
# timing.txt, hardware.txt and each study's reference.md: at most 8 files, what a device call brings back.
# Stacked MNIST needs MNIST: set GANBENCH_DATA to a folder holding mnist/ (the four idx files, .gz or not;
# about 11 MB gzipped, so a copy under an ignored folder of the checkout can travel to a machine without
# network), or have it in ganbench's data cache; without it that part is skipped with a note.
# Its mode classifier (an MNIST LeNet) is trained on the CPU, deterministically, once per cache (7,504
# steps: 3 min on this project's 2-core box, ~130 s on the H100 machine). Prepare it ahead instead and
# carry it: on any machine with MNIST, `GANBENCH_CACHE=DIR ganbench data prepare stacked-mnist` writes
# DIR/classifiers/lenet-mnist-v1-*.{json,safetensors}; put that DIR at .gpudata/cache in the checkout
# (git-ignored; the lead's device runs carry .gpudata) or name it with CARRIED_CACHE. This script copies
# its classifiers into the cache in use (GANBENCH_CACHE, default ~/.cache/ganbench) without overwriting,
# and ganbench then uses them even under another torch version (same data, architecture and recipe;
# the classifier's identity in every result names the weights used). timing.txt says which was used.
# DEADLINE_S bounds this step too: with no classifier in the cache in use and fewer than CLASSIFIER_S seconds
# left (default 180: ~130 s measured on the H100 machine), Stacked MNIST is skipped before training starts,
# and a classifier step still running at DEADLINE_S is stopped; timing.txt (packed) says which, in one line.
# ALLOW_CPU=1 runs without a GPU (for a smoke test of this script only).
set -euo pipefail
OUT=${1:?usage: bash benchmarks/gpu_reproduce.sh OUT_DIR}
cd "$(dirname "$0")/.."
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
SCALE_2D=${SCALE_2D:-0.01}
SCALE_SM=${SCALE_SM:-0.01}
SPEC_2D=${SPEC_2D:-presets/pacgan-2d.yaml}
WORKERS=${WORKERS:-8}
START=$(date +%s)

# an interpreter whose torch sees a GPU: $PYTHON, the project's .venv, or python3 with src/ on the path
# (with ALLOW_CPU=1, the .venv also when python3 has no torch)
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ] && .venv/bin/python -c 'import sys, torch; sys.exit(not torch.cuda.is_available())' 2>/dev/null; then
    PY=.venv/bin/python
  elif [ "${ALLOW_CPU:-0}" = 1 ] && [ -x .venv/bin/python ] && ! python3 -c 'import torch' 2>/dev/null; then
    PY=.venv/bin/python   # a CPU smoke test where python3 has no torch: the project's venv
  else
    PY=python3
  fi
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
if ! "$PY" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())'; then
  [ "${ALLOW_CPU:-0}" = 1 ] || { echo "gpu_reproduce.sh: torch sees no CUDA GPU (ALLOW_CPU=1 to smoke-test on a CPU)" >&2; exit 2; }
fi
gb() { "$PY" -m ganbench "$@"; }

{ date -u; "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  nproc; } > "$OUT/hardware.txt"
: > "$OUT/timing.txt"

pack() {  # what a device call can bring back: one archive without checkpoints, and the small tables
  [ -n "${PACK_DIR:-}" ] || return 0
  mkdir -p "$PACK_DIR"
  tar czf "$PACK_DIR/reproduce.tgz" -C "$OUT" --exclude='*.safetensors' .
  cp "$OUT/timing.txt" "$OUT/hardware.txt" "$PACK_DIR/"
  for f in "$OUT"/*/reference.md; do [ -f "$f" ] && cp "$f" "$PACK_DIR/$(basename "$(dirname "$f")")-reference.md"; done
  return 0
}
trap pack EXIT

run_study() {  # NAME SPEC SCALE
  local t0 t1 rc=0 left scale=()
  [ "$3" = 1 ] || scale=(--scale "$3")
  t0=$(date +%s)
  if [ -n "${DEADLINE_S:-}" ]; then
    left=$(( START + DEADLINE_S - t0 ))
    [ "$left" -gt 10 ] || { echo "$1: not started, DEADLINE_S reached" | tee -a "$OUT/timing.txt"; return 0; }
    timeout --kill-after=15 "$left" "$PY" -m ganbench study run "$2" "${scale[@]}" --dir "$OUT/$1" --force-new \
      --workers "$WORKERS" --no-progress || rc=$?
  else
    gb study run "$2" "${scale[@]}" --dir "$OUT/$1" --force-new --workers "$WORKERS" --no-progress || rc=$?
  fi
  t1=$(date +%s)
  echo "$1 ($2, scale $3): $((t1 - t0)) s wall, exit $rc$([ $rc = 124 ] && echo ' (stopped at DEADLINE_S)')" \
    | tee -a "$OUT/timing.txt"
  [ -f "$OUT/$1/reference.csv" ] && "$PY" scripts/reference_markdown.py "$OUT/$1/reference.csv" > "$OUT/$1/reference.md"
  return 0
}

# 1. ring8 + grid25, GAN and PacGAN2/3/4, the official recipe (presets/pacgan-2d.yaml)
run_study pacgan-2d "$SPEC_2D" "$SCALE_2D"

# 2. Stacked MNIST, DCGAN and PacDCGAN2/3/4. The mode classifier (MNIST LeNet) is trained once here,
#    before the workers start, so they do not all train it at once.
# look for the idx files first: `data fetch` would also try npm, which waits on a machine without network
have_mnist() {
  local d
  for d in "${GANBENCH_DATA:+$GANBENCH_DATA/mnist}" \
           "${GANBENCH_DATA_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/ganbench}/mnist"; do
    [ -n "$d" ] && { [ -f "$d/train-images-idx3-ubyte" ] || [ -f "$d/train-images-idx3-ubyte.gz" ]; } && return 0
  done
  return 1
}
CARRIED_CACHE=${CARRIED_CACHE:-.gpudata/cache}
CACHE=${GANBENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ganbench}   # the cache ganbench uses (cache.py)
if [ -d "$CARRIED_CACHE/classifiers" ]; then  # a classifier prepared ahead: copied in, never overwriting
  mkdir -p "$CACHE/classifiers"
  cp -n "$CARRIED_CACHE"/classifiers/lenet-*.json "$CARRIED_CACHE"/classifiers/lenet-*.safetensors "$CACHE/classifiers/" 2>/dev/null || true
fi

prepare_classifier() {  # 0 when the mode classifier is ready (carried, or trained here once); else one line says why not
  local t0 left rc=0 limit=() name=pacgan-stacked-mnist
  t0=$(date +%s)
  if [ -n "${DEADLINE_S:-}" ]; then
    left=$(( START + DEADLINE_S - t0 ))
    [ "$left" -gt 10 ] || { echo "$name: not started, DEADLINE_S reached" | tee -a "$OUT/timing.txt"; return 1; }
    # no MNIST classifier file at all: `data prepare` trains one (a file for other data or another recipe is
    # not seen here; that training is then stopped at DEADLINE_S below)
    if ! ls "$CACHE"/classifiers/lenet-mnist-v*.safetensors > /dev/null 2>&1 && [ "$left" -lt "${CLASSIFIER_S:-180}" ]; then
      echo "$name: skipped, no mode classifier in $CACHE/classifiers and $left s left before DEADLINE_S, under the" \
           "${CLASSIFIER_S:-180} s (CLASSIFIER_S) that training it takes; carry one (benchmarks/gpu_prepare.sh)" \
        | tee -a "$OUT/timing.txt"
      return 1
    fi
    limit=(timeout --kill-after=15 "$left")
  fi
  "${limit[@]}" "$PY" -m ganbench data prepare stacked-mnist | tee -a "$OUT/timing.txt" || rc=$?
  if [ "$rc" != 0 ]; then
    echo "$name: skipped, mode classifier not ready after $(( $(date +%s) - t0 )) s (exit $rc$(
      [ "$rc" = 124 ] || [ "$rc" = 137 ] && echo ', stopped at DEADLINE_S'))" | tee -a "$OUT/timing.txt"
    return 1
  fi
  echo "mode classifier ready in $(( $(date +%s) - t0 )) s" | tee -a "$OUT/timing.txt"
}

if have_mnist && gb data fetch mnist --offline > "$OUT/mnist.txt" 2>&1; then
  if prepare_classifier; then
    run_study pacgan-stacked-mnist presets/pacgan-stacked-mnist.yaml "$SCALE_SM"
  fi
else
  echo "pacgan-stacked-mnist: skipped, MNIST not found (set GANBENCH_DATA; $(tail -1 "$OUT/mnist.txt" 2>/dev/null))" \
    | tee -a "$OUT/timing.txt"
fi
cat "$OUT/timing.txt"
