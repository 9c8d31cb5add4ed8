#!/usr/bin/env bash
# MLServer's virtual environment, benchmarks/.venv-mlserver, for the serving benchmark
# (`bash benchmarks/run.sh serve`): MLServer 1.7.1 with its scikit-learn runtime, pinned in
# requirements-mlserver.txt (PyPI only). See setup_venv.sh (FORCE=1, PEERS_PYTHON).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec bash "$here/setup_venv.sh" "${MLSERVER_VENV:-$here/.venv-mlserver}" \
    "$here/requirements-mlserver.txt" mlserver==1.7.1 mlserver-sklearn==1.7.1 \
    scikit-learn==1.9.1 uvloop==0.21.0 --import mlserver mlserver_sklearn
