"""The market-trend example end to end, through rung's command line.

    python examples/market_trend/demo.py        (what `make demo` runs)

It recreates the workspace ``examples/market_trend/.demo-ws``, versions real S&P 500 prices,
runs the pipeline twice (the second run comes entirely from the cache), shows the first run
and the lineage of its model, and says whether the business criterion was met. Each command
is printed before it runs. It exits non-zero if a command fails; missing the criterion is a
result, not a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
WS = HERE / ".demo-ws"
RUNG = Path(sys.executable).with_name("rung")
PIPELINE = "../pipeline.py:train"  # relative to the workspace


def sh(*args: str, capture: bool = False, show: bool = True) -> str:
    """Echo and run a command in the workspace; stop the demo if it fails."""
    exe, *rest = args
    shown = "rung" if exe == str(RUNG) else "python" if exe == sys.executable else exe
    print(f"\n$ {' '.join([shown, *rest])}", flush=True)
    env = {k: v for k, v in os.environ.items() if k != "RUNG_WORKSPACE"}
    if not sys.stdout.isatty():
        env.setdefault("COLUMNS", "200")  # rich would crop the lineage tree at 80 columns
    done = subprocess.run(
        args, cwd=WS, env=env, text=True, stdout=subprocess.PIPE if capture else None
    )
    if capture and show:
        print(done.stdout, end="", flush=True)
    if done.returncode != 0:
        print(
            f"\ndemo failed: `{shown} {' '.join(rest)}` exited with {done.returncode}",
            file=sys.stderr,
        )
        sys.exit(done.returncode)
    return done.stdout or ""


def run_id(output: str) -> str:
    found = re.search(r"^run (\d+):", output, re.MULTILINE)
    if found is None:
        sys.exit(f"demo failed: no run id in the output of `rung run`: {output!r}")
    return found.group(1)


def main() -> None:
    if not RUNG.exists():
        sys.exit(f"demo failed: no rung executable next to {sys.executable}; pip install -e .")
    shutil.rmtree(WS, ignore_errors=True)
    WS.mkdir(parents=True)
    print(f"market-trend demo in {WS}")

    sh(str(RUNG), "init", ".")
    sh(sys.executable, "../data.py", "prices.csv")
    sh(str(RUNG), "data", "add", "prices.csv", "--name", "sp500")
    sh(str(RUNG), "data", "show", "sp500@1")

    first = run_id(sh(str(RUNG), "run", PIPELINE, capture=True))
    second = sh(str(RUNG), "run", PIPELINE, capture=True)
    if "steps cached — nothing executed" not in second:
        sys.exit("demo failed: the second, unchanged run should have come entirely from the cache")

    sh(str(RUNG), "show", first)
    sh(str(RUNG), "lineage", first)

    detail = json.loads(sh(str(RUNG), "show", first, "--json", capture=True, show=False))
    m = detail["metrics"]
    precision, bound = m["precision_down"], 0.75
    verdict = "MET" if precision >= bound else "NOT MET"
    print(
        f"\nBusiness criterion precision_down >= {bound}: {verdict}.\n"
        f"  precision_down {precision:.3f} (base rate of down days {m['base_rate_down']:.3f}),"
        f" recall_down {m['recall_down']:.3f}, accuracy {m['accuracy']:.3f},\n"
        f"  {int(m['n_warnings'])} warnings over {int(m['n_test'])} test days"
        f" ({int(m['support_down'])} of them really down), test period from {detail['params']['test_start']}."
    )
    if precision <= m["base_rate_down"]:
        print("  Its warnings are no more often right than warning on every day would be.")
    if precision < bound:
        print(
            "  As agreed before modelling, this model is not good enough to deploy as the warning system."
        )


if __name__ == "__main__":
    main()
