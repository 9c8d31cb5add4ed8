"""The market-trend example end to end, through rung's command line.

    python examples/market_trend/demo.py        (what `make demo` runs)

It recreates the workspace ``examples/market_trend/.demo-ws``, writes the business acceptance
criterion into its ``rung.toml``, versions real S&P 500 prices, runs the pipeline twice (the
second run comes entirely from the cache), shows the first run and the lineage of its model,
then validates that model on four real datasets at once (the S&P 500 test period and three
other indices) with ``rung eval``, writes an HTML report, and says on which datasets the
criterion is met. Each command is printed before it runs. The demo exits non-zero if a
command fails; missing the criterion is a result, not a failure (``rung eval`` exits 1 on a
failed verdict, which the demo accepts).
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
EVAL_SETS = ("sp500_test", "djia", "nyse", "msci_ch")  # made by eval_sets.py, version 1 each
# The scope's acceptance criterion, agreed before any modelling: of the warnings shown, at
# least three in four must be right, on every dataset the model is validated on.
EVAL_CONFIG = """\
[eval]
label = "trend"
criteria = ["precision_down >= 0.75 on every dataset"]
"""


def sh(*args: str, capture: bool = False, show: bool = True, ok: tuple[int, ...] = (0,)) -> str:
    """Echo and run a command in the workspace; stop the demo if it fails.

    ``ok`` lists the exit codes that are results rather than failures.
    """
    exe, *rest = args
    shown = "rung" if exe == str(RUNG) else "python" if exe == sys.executable else exe
    print(f"\n$ {' '.join([shown, *rest])}", flush=True)
    env = {k: v for k, v in os.environ.items() if k != "RUNG_WORKSPACE"}
    if capture or not sys.stdout.isatty():
        # rung writes to a pipe here, where rich would assume 80 columns and crop the lineage
        # tree and Table 2: give it the terminal's width, or 200 columns without a terminal
        width = os.get_terminal_size().columns if sys.stdout.isatty() else 200
        env.setdefault("COLUMNS", str(width))
    done = subprocess.run(
        args, cwd=WS, env=env, text=True, stdout=subprocess.PIPE if capture else None
    )
    if capture and show:
        print(done.stdout, end="", flush=True)
    if done.returncode not in ok:
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


def eval_id(output: str) -> str:
    found = re.search(r"^\s*evaluation (\d+): model ", output, re.MULTILINE)
    if found is None:
        sys.exit(f"demo failed: no evaluation id in the output of `rung eval`: {output!r}")
    return found.group(1)


def write_eval_config(root: Path = WS) -> None:
    """Put the ``[eval]`` section into the workspace's rung.toml, in place of the template's."""
    import tomllib

    config = root / "rung.toml"
    lines = config.read_text().splitlines(keepends=True)
    if "[eval]\n" in lines:  # `rung init` writes an [eval] header with commented examples
        start = lines.index("[eval]\n")
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")),
            len(lines),
        )
        lines[start:end] = [EVAL_CONFIG]
    else:
        lines.append("\n" + EVAL_CONFIG)
    config.write_text("".join(lines))
    written = tomllib.loads(config.read_text()).get("eval")
    if written != tomllib.loads(EVAL_CONFIG)["eval"]:
        sys.exit(f"demo failed: rung.toml's [eval] section reads {written!r}")
    print(
        f"\n# rung.toml: the label and the acceptance criterion agreed in the scope\n{EVAL_CONFIG}",
        end="",
    )


def main() -> None:
    if not RUNG.exists():
        sys.exit(f"demo failed: no rung executable next to {sys.executable}; pip install -e .")
    shutil.rmtree(WS, ignore_errors=True)
    WS.mkdir(parents=True)
    print(f"market-trend demo in {WS}")

    sh(str(RUNG), "init", ".")
    write_eval_config()
    sh(sys.executable, "../data.py", "prices.csv")
    sh(str(RUNG), "data", "add", "prices.csv", "--name", "sp500")
    sh(str(RUNG), "data", "show", "sp500@1")

    first = run_id(sh(str(RUNG), "run", PIPELINE, capture=True))
    second = sh(str(RUNG), "run", PIPELINE, capture=True)
    if "steps cached — nothing executed" not in second:
        sys.exit("demo failed: the second, unchanged run should have come entirely from the cache")

    sh(str(RUNG), "show", first)
    sh(str(RUNG), "lineage", first)

    # Validation: the model on the S&P 500 test period and on three other real indices.
    sh(sys.executable, "../eval_sets.py", first)
    on = [arg for name in EVAL_SETS for arg in ("--on", f"{name}@1")]
    # exit 1 is the verdict FAILED: a result of the validation, not a failure of the demo
    ev = eval_id(sh(str(RUNG), "eval", first, *on, "--slice", "year", capture=True, ok=(0, 1)))
    sh(str(RUNG), "eval", "show", ev, "--format", "html", "-o", "report.html", ok=(0, 1))
    print(f"HTML report: {WS / 'report.html'}")

    shown = sh(
        str(RUNG), "eval", "show", ev, "--format", "json", capture=True, show=False, ok=(0, 1)
    )
    summarize(json.loads(shown))


def summarize(ev: dict) -> None:
    """Say plainly, dataset by dataset, whether the acceptance criterion is met."""
    verdict = ev["verdict"]
    criteria = " and ".join(verdict["criteria"])
    status = {"passed": "MET", "failed": "NOT MET"}.get(verdict["status"], "NOT JUDGED")
    print(f"\nBusiness criterion {criteria}: {status}.")
    checks = {c["where"].removeprefix("dataset "): c for c in verdict["checks"]}
    lifts = []
    for d in ev["datasets"]:
        ref, row = d["ref"], ev["rows"][d["ref"]]
        confusion = ev["details"][ref]["confusion"]
        if confusion["labels"] != ["down", "up"]:
            sys.exit(f"demo failed: unexpected classes {confusion['labels']} on {ref}")
        (tp, fn), (fp, tn) = confusion["matrix"]  # rows: true down, up; columns: predicted
        days, base_rate = tp + fn + fp + tn, (tp + fn) / (tp + fn + fp + tn)
        lifts.append((row["precision_down"] - base_rate, ref))
        met = "met" if ref in checks and checks[ref]["passed"] else "NOT met"
        print(
            f"  {ref:<13} {met:<8} precision_down {row['precision_down']:.3f}"
            f" (base rate of down days {base_rate:.3f}), recall_down {row['recall_down']:.3f},"
            f" {tp + fp} warnings over {days} days"
        )
    low, high = min(lifts), max(lifts)
    print(
        "  (The base rate is the precision of warning on every day; the model's precision_down"
        f" is {low[0]:+.3f} ({low[1]}) to {high[0]:+.3f} ({high[1]}) away from it.)"
    )
    if verdict["status"] != "passed":
        print(
            "  As agreed before modelling, this model is not good enough to deploy as the"
            " warning system."
        )


if __name__ == "__main__":
    main()
