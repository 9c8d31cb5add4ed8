#!/usr/bin/env bash
# Evidently's virtual environment, benchmarks/.venv-evidently, for comparison (f) data drift:
# its own, because evidently 0.7.23 does not import with pandas 3 (pinned 2.3.3 here).
# See setup_venv.sh (FORCE=1, PEERS_PYTHON).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec bash "$here/setup_venv.sh" "${EVIDENTLY_VENV:-$here/.venv-evidently}" \
    "$here/requirements-evidently.txt" evidently==0.7.23 pandas==2.3.3 \
    --import evidently evidently.presets
