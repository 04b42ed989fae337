#!/usr/bin/env bash
# The main job: a comparison study on embedded data (no download) -> studies/quick/report.html
# Six recipes x {ring8, digits} x 3 seeds under equal budgets (grid25 needs longer: presets/grid25.yaml).
# 36 runs: about 3.5-7.5 min on 2 CPU cores and 420 MB of disk (measured times: README, Benchmarks).
# Re-running resumes: finished runs are kept, interrupted ones continue from their checkpoints.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
"${GANBENCH_VENV:-.venv}/bin/ganbench" study run presets/quick.yaml --dir "${1:-studies/quick}" "${@:2}"
