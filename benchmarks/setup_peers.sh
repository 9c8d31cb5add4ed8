#!/usr/bin/env bash
# Create (or refresh) the peers' virtual environment, benchmarks/.venv-peers.
#
# Idempotent: when the venv exists and was built from the current requirements-peers.txt
# (a checksum stamp is kept inside the venv) this does nothing. Installs only from the
# package registry, through pip. rung's own venv (/work/main/.venv or $RUNG_VENV) is never touched.
#
#   bash benchmarks/setup_peers.sh            # create/refresh
#   FORCE=1 bash benchmarks/setup_peers.sh    # rebuild from scratch
#   PEERS_PYTHON=python3.11 bash benchmarks/setup_peers.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${PEERS_VENV:-$here/.venv-peers}"
req="$here/requirements-peers.txt"
stamp="$venv/.rung-bench-stamp"

export DVC_NO_ANALYTICS=1 ZENML_ANALYTICS_OPT_IN=false DO_NOT_TRACK=1
export PIP_DISABLE_PIP_VERSION_CHECK=1

pick_python() {
    if [[ -n "${PEERS_PYTHON:-}" ]]; then echo "$PEERS_PYTHON"; return; fi
    for cand in python3.11 python3; do
        if command -v "$cand" >/dev/null 2>&1 &&
            "$cand" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' 2>/dev/null; then
            echo "$cand"; return
        fi
    done
    echo "setup_peers.sh: need Python 3.11 (set PEERS_PYTHON)" >&2
    exit 1
}

want="$(sha256sum "$req" | cut -d' ' -f1)"

if [[ "${FORCE:-0}" == "1" && -d "$venv" ]]; then
    rm -rf "$venv"
fi

if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "peers venv up to date: $venv"
    exit 0
fi

if [[ ! -x "$venv/bin/python" ]]; then
    py="$(pick_python)"
    echo "creating peers venv $venv with $py"
    "$py" -m venv "$venv"
fi

echo "installing peers from $req (a few minutes the first time)"
# Quiet pip, but keep real errors visible; filter the noisy 'Location ... is ignored' lines
# that a machine-level extra-index-url setting may produce.
"$venv/bin/python" -m pip install --quiet -r "$req" 2>&1 |
    grep -v "^WARNING: Location '.*' is ignored" || true
# pipefail does not see pip's status through the filter: check the result explicitly.
"$venv/bin/python" - <<'PY'
import importlib.metadata as md
for name, ver in (("dvc", "3.67.1"), ("zenml", "0.98.0"), ("mlflow", "3.17.2")):
    got = md.version(name)
    assert got == ver, f"{name} {got} != {ver}"
print("peers installed: dvc %s, zenml %s, mlflow %s"
      % (md.version("dvc"), md.version("zenml"), md.version("mlflow")))
PY
"$venv/bin/python" -m pip check
echo "$want" > "$stamp"
