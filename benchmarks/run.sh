#!/usr/bin/env bash
# `make bench`: rung against DVC, ZenML, MLflow, MLServer and Evidently, side by side. Arguments go
# to run.py (--quick, --only a|b|c|d|e|serve|f|fa|cli|sync, --reps N, --mlflow-full,
# --serve-workers N, ...).
#
#   bash benchmarks/run.sh serve [ARGS]   # the serving benchmark alone (= --only serve):
#                                         # rung vs MLServer and mlflow models serve, ~10 min
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
py="${RUNG_PYTHON:-$root/.venv/bin/python}"
if [[ ! -x "$py" ]]; then
    echo "rung's venv python not found at $py (set RUNG_PYTHON)" >&2
    exit 2
fi
export DVC_NO_ANALYTICS=1 ZENML_ANALYTICS_OPT_IN=false DO_NOT_TRACK=1
if [[ "${1:-}" == "serve" ]]; then
    shift
    bash "$here/setup_peers.sh"
    bash "$here/setup_mlserver.sh"
    exec "$py" "$here/run.py" --no-setup --only serve "$@"
fi
bash "$here/setup_peers.sh"
bash "$here/setup_mlserver.sh"
bash "$here/setup_evidently.sh"
exec "$py" "$here/run.py" --no-setup "$@"
