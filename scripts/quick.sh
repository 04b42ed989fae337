#!/usr/bin/env bash
# The main job: a comparison study on embedded data (no download) -> studies/quick/report.html
# Six recipes x {ring8, digits} x 3 seeds under equal budgets (grid25 needs longer: presets/grid25.yaml).
# The 54-run version with grid25 took 9 min on 2 idle cores (25 min under heavy load), about 400 MB of disk.
# Re-running resumes: finished runs are kept, interrupted ones continue from their checkpoints.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ganbench study run presets/quick.yaml --dir "${1:-studies/quick}" "${@:2}"
