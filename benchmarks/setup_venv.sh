#!/usr/bin/env bash
# Create (or refresh) one benchmark virtual environment from a pinned requirements file.
#
#   bash benchmarks/setup_venv.sh VENV REQUIREMENTS NAME==VERSION... [--import MODULE...]
#
# Idempotent: when VENV exists and was built from the current REQUIREMENTS (a checksum stamp is
# kept inside it) this does nothing. Installs only from the package registry, through pip, and
# checks that each NAME has VERSION (and that each --import MODULE imports). rung's own venv is
# never touched. FORCE=1 rebuilds from scratch; PEERS_PYTHON picks the interpreter (3.11).
set -euo pipefail

venv="$1"; req="$2"; shift 2
pins=(); imports=()
while [[ $# -gt 0 ]]; do
    if [[ "$1" == "--import" ]]; then shift; imports+=("$@"); break; fi
    pins+=("$1"); shift
done
stamp="$venv/.rung-bench-stamp"
label="$(basename "$venv")"

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
    echo "setup_venv.sh: need Python 3.11 (set PEERS_PYTHON)" >&2
    exit 1
}

want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ "${FORCE:-0}" == "1" && -d "$venv" ]]; then
    rm -rf "$venv"
fi
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "$label up to date: $venv"
    exit 0
fi
if [[ ! -x "$venv/bin/python" ]]; then
    py="$(pick_python)"
    echo "creating $venv with $py"
    "$py" -m venv "$venv"
fi

echo "installing $req into $label (a few minutes the first time)"
# Quiet pip, but keep real errors visible; filter the noisy 'Location ... is ignored' lines
# that a machine-level extra-index-url setting may produce.
"$venv/bin/python" -m pip install --quiet -r "$req" 2>&1 |
    grep -v "^WARNING: Location '.*' is ignored" || true
# pipefail does not see pip's status through the filter: check the result explicitly.
"$venv/bin/python" - "${pins[@]}" -- "${imports[@]}" <<'PY'
import importlib
import importlib.metadata as md
import sys

args = sys.argv[1:]
split = args.index("--")
for pin in args[:split]:
    name, ver = pin.split("==")
    got = md.version(name)
    assert got == ver, f"{name} {got} != {ver}"
for module in args[split + 1 :]:
    importlib.import_module(module)
print("installed:", ", ".join(args[:split]))
PY
"$venv/bin/python" -m pip check
echo "$want" > "$stamp"
