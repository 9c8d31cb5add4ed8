#!/usr/bin/env bash
# The peers' virtual environment, benchmarks/.venv-peers: DVC, ZenML and MLflow (comparisons
# a-e), pinned in requirements-peers.txt. See setup_venv.sh (FORCE=1, PEERS_PYTHON).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec bash "$here/setup_venv.sh" "${PEERS_VENV:-$here/.venv-peers}" "$here/requirements-peers.txt" \
    dvc==3.67.1 zenml==0.98.0 mlflow==3.17.2
