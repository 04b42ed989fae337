#!/usr/bin/env bash
# Run the test suite (sets up .venv first). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# one pytest worker per core (pytest-xdist), each taking whole files so module fixtures are built once;
# GANBENCH_TEST_WORKERS=0 runs everything in this process (or pass -n 0 after)
exec "${GANBENCH_VENV:-.venv}/bin/python" -m pytest -n "${GANBENCH_TEST_WORKERS:-auto}" --dist loadfile "$@"
