#!/usr/bin/env bash
# The main job: train a GAN on embedded data (no download) and write samples.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
OUT=${1:-runs/quick}
.venv/bin/ganbench train --data ring8 --generator mlp --discriminator mlp --loss ns \
  --steps 2000 --seed 0 --out "$OUT/ring8" --overwrite
.venv/bin/ganbench sample "$OUT/ring8" --out "$OUT/ring8.png"
.venv/bin/ganbench eval "$OUT/ring8" --checkpoint all
.venv/bin/ganbench train --data digits --generator dcgan --discriminator dcgan --loss ns \
  --steps 1500 --seed 0 --out "$OUT/digits" --overwrite
.venv/bin/ganbench sample "$OUT/digits" --n 100 --out "$OUT/digits.png"
.venv/bin/ganbench eval "$OUT/digits" --checkpoint all
echo "samples: $OUT/ring8.png $OUT/digits.png; metrics: $OUT/ring8/eval.json $OUT/digits/eval.json"
