"""The market-trend example end to end, through rung's command line.

    python examples/market_trend/demo.py        (what `make demo` runs)

It recreates the workspace ``examples/market_trend/.demo-ws``, writes the business acceptance
criterion into its ``rung.toml``, versions real S&P 500 prices, runs the pipeline twice (the
second run comes entirely from the cache), shows the first run and the lineage of its model,
then validates that model on four real datasets at once (the S&P 500 test period and three
other indices) with ``rung eval``, writes an HTML report, and says on which datasets the
criterion is met.

Then the model becomes a service: it is registered, promoted to ``champion`` only if it passed
(otherwise the refusal is shown and it is served in shadow mode, a forced move with its reason
in the audit trail), served with ``rung serve``, and called by the application ``app.py``,
which never imports the model. A second version runs beside it in shadow (``--shadow``): it
predicts every request of 2007 too, the labels come back, and ``rung monitor compare`` judges
it against the served version on those same requests. While the application checks a purchase
on every trading day of 2008, the alias moves to that second version; the demo shows which version answered which days and
fails if any request failed. A rollback, the audit trail and the service's metrics close it.

Each command is printed before it runs. The demo exits non-zero if a command fails; missing
the criterion is a result, not a failure (``rung eval`` exits 1 on a failed verdict, and
``rung model promote`` on the refusal that follows, which the demo expects).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WS = HERE / ".demo-ws"
RUNG = Path(sys.executable).with_name("rung")
PIPELINE = "../pipeline.py:train"  # relative to the workspace
EVAL_SETS = ("sp500_test", "djia", "nyse", "msci_ch")  # made by eval_sets.py, version 1 each
# The scope's acceptance criterion, agreed before any modelling: of the warnings shown, at
# least three in four must be right, on every dataset the model is validated on.
MODEL = "market-trend"
SHADOW_REASON = "shadow: misses precision_down >= 0.75; logged, never shown to investors"
EVAL_CONFIG = """\
[eval]
label = "trend"
criteria = ["precision_down >= 0.75 on every dataset"]
"""


def sh(
    *args: str,
    capture: bool = False,
    show: bool = True,
    echo: bool = True,
    ok: tuple[int, ...] = (0,),
) -> str:
    """Echo and run a command in the workspace; stop the demo if it fails.

    ``ok`` lists the exit codes that are results rather than failures.
    """
    exe, *rest = args
    shown = "rung" if exe == str(RUNG) else "python" if exe == sys.executable else exe
    if echo:
        print(f"\n$ {shlex.join([shown, *rest])}", flush=True)
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
    print("(the demo reads this JSON; in short:)")
    passed = summarize(json.loads(shown))
    serve_and_swap(first, passed)
    continuous_training()


def summarize(ev: dict) -> bool:
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
    return bool(verdict["status"] == "passed")


def serve_and_swap(run: str, passed: bool) -> None:
    """Register the model, promote it only if it passed, serve it, call it from the
    application, and move the alias to a new version while the application's requests flow."""
    print("\n# The model as a service, decoupled from the application that calls it")
    sh(str(RUNG), "model", "register", run, "--name", MODEL)
    sh(str(RUNG), "model", "show", f"{MODEL}@1")
    if passed:
        alias = "champion"
        sh(str(RUNG), "model", "promote", MODEL, "1", "--alias", alias)
    else:
        # the registry refuses a champion whose evaluation failed (exit 1 is that refusal) ...
        sh(str(RUNG), "model", "promote", MODEL, "1", "--alias", "champion", ok=(1,))
        # ... so it runs in shadow mode: served and logged, its warnings never shown to anyone
        alias = "shadow"
        sh(
            str(RUNG),
            "model",
            "promote",
            MODEL,
            "1",
            "--alias",
            alias,
            "--force",
            "--reason",
            SHADOW_REASON,
        )
    # A second version: the same pipeline with a stronger regularisation, evaluated too, and
    # made the challenger: it will meet live traffic in shadow before anyone promotes it.
    second = run_id(sh(str(RUNG), "run", PIPELINE, "-p", "C=0.1", capture=True))
    sh(str(RUNG), "model", "register", second, "--name", MODEL)
    on = [arg for name in EVAL_SETS for arg in ("--on", f"{name}@1")]
    sh(str(RUNG), "eval", f"{MODEL}@2", *on, ok=(0, 1))
    sh(
        str(RUNG),
        "model",
        "promote",
        MODEL,
        "2",
        "--alias",
        "challenger",
        "--force",
        "--reason",
        "challenger: judged in shadow on live traffic before any promotion",
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # no access log: a line per request would bury the demo's output (the swap is one line)
    shadow = ["--shadow", f"{MODEL}@challenger"]
    serve = ["serve", f"{MODEL}@{alias}", *shadow, "--port", str(port), "--poll", "0.5"]
    serve.append("--no-access-log")
    print(f"\n$ rung {' '.join(serve)}   (in the background)")
    server = subprocess.Popen([str(RUNG), *serve], cwd=WS)
    try:
        wait_ready(url, server)
        app = [sys.executable, "../app.py", "--service", url]
        sh(*app, "check", "2008-09-12")
        sh(*app, "check", "2009-03-09")
        shadow_phase(url, alias)

        # The application checks a purchase on every trading day of 2008 while the alias moves.
        before = rows_predicted(url)  # the checks so far (2007 included) are not the replay's
        print(f"\n$ python ../app.py --service {url} replay 2008-01-01 2008-12-31 --pace 0.02 &")
        replay = subprocess.Popen(
            [*app, "--json", "replay", "2008-01-01", "2008-12-31", "--pace", "0.02"],
            cwd=WS,
            stdout=subprocess.PIPE,
            text=True,
        )
        wait_for_rows(url, before + 40, replay)  # let some requests through version 1 first
        promote_v2 = ["model", "promote", MODEL, "2", "--alias", alias]
        if not passed:
            promote_v2 += ["--force", "--reason", SHADOW_REASON]
        sh(str(RUNG), *promote_v2, ok=(0, 1) if passed else (0,))
        out, _ = replay.communicate(timeout=300)
        summary = json.loads(out)
        print(
            f"{summary['answered']} of {summary['days']} purchase checks answered,"
            f" {summary['failed']} failed, {summary['warnings']} warnings"
        )
        for span in summary["versions"]:
            print(
                f"  version {span['version']} answered {span['requests']} checks,"
                f" {span['first']} to {span['last']}"
            )
        versions = [span["version"] for span in summary["versions"]]
        if summary["failed"] or versions != [1, 2]:
            sys.exit(
                "demo failed: the swap should answer with version 1, then version 2, and"
                f" fail nothing; got versions {versions}, {summary['failed']} failed"
            )
        print(
            "The service swapped versions under load: no failed request, and every answer"
            " names the version that computed it."
        )

        # the gate holds for a rollback too: back onto a version that failed needs --force
        rollback = ["model", "rollback", MODEL, "--alias", alias]
        rollback += ["--reason", "demo: back to version 1"] + ([] if passed else ["--force"])
        sh(str(RUNG), *rollback)
        wait_for_version(url, 1)
        sh(*app, "check", "2008-09-12")
        sh(str(RUNG), "model", "history", MODEL)
        scraped = httpx_get(f"{url}/metrics")
        print("\n$ curl " + url + "/metrics   (excerpt)")
        for line in scraped.splitlines():
            if line.startswith(
                (
                    "rung_model_version",
                    "rung_rows_predicted_total",
                    'rung_requests_total{path="/predict"',
                )
            ):
                print(line)
    finally:
        server.terminate()
        server.wait(timeout=30)
    if not passed:
        print(
            f"\n{MODEL} is served in shadow mode only: it failed the business criterion, so the"
            " registry refused it as champion and its warnings are not shown to investors."
        )


def shadow_phase(url: str, alias: str) -> None:
    """Every trading day of 2007 (after the training period) checked through the service, the
    challenger predicting each request in shadow; the labels come back; the challenger is
    judged against the served version on those same requests."""
    import pandas as pd

    sys.path.insert(0, str(HERE))
    import app
    import features

    import rung

    print(
        f"\n# {MODEL}@challenger in shadow: it predicts every purchase check of 2007 too (clients"
        " see only the served version's answer); once each day's trend is known, the labels"
        " come back (POST /feedback)"
    )
    prices = pd.read_csv(WS / "prices.csv", parse_dates=["Date"])
    rows = app.feature_rows(WS / "prices.csv")
    truth = features.build_windows(prices, 20, 20).set_index("date")["trend"]
    with rung.Client(url) as client:
        answers = [app.check(client, rows, day) for day in rows.loc["2007"].index]
        labelled = [a for a in answers if pd.Timestamp(a["day"]) in truth.index]
        client.feedback_many(
            [
                {"request_id": a["request_id"], "label": truth.at[pd.Timestamp(a["day"])]}
                for a in labelled
            ]
        )
    versions = sorted({a["version"] for a in answers})
    print(
        f"{len(answers)} checks of 2007 answered by version {', '.join(map(str, versions))},"
        f" {len(labelled)} labels sent back"
    )
    deadline = time.monotonic() + 30  # the shadow logs off the request path: let it finish
    while time.monotonic() < deadline and shadow_logged(url) < len(answers):
        time.sleep(0.2)
    sh(str(RUNG), "monitor", "compare", f"{MODEL}@{alias}", f"{MODEL}@challenger")


def shadow_logged(url: str) -> float:
    """How many shadow predictions the service logged (its Prometheus metrics)."""
    for line in httpx_get(f"{url}/metrics").splitlines():
        if line.startswith('rung_shadow_total{outcome="logged"}'):
            return float(line.split()[1])
    return 0.0


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def httpx_get(url: str) -> str:
    import httpx

    return httpx.get(url, timeout=10).text


def wait_ready(url: str, server: subprocess.Popen) -> None:
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"demo failed: `rung serve` exited with {server.returncode}")
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    sys.exit("demo failed: the service did not become ready in 120 s")


def rows_predicted(url: str) -> float:
    """The rows the service has answered (its Prometheus metrics)."""
    for line in httpx_get(f"{url}/metrics").splitlines():
        if line.startswith("rung_rows_predicted_total "):
            return float(line.split()[1])
    return 0.0


def wait_for_rows(url: str, rows: float, replay: subprocess.Popen) -> None:
    """Until the service has predicted ``rows`` rows (read from its Prometheus metrics)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and replay.poll() is None:
        if rows_predicted(url) >= rows:
            return
        time.sleep(0.1)
    sys.exit("demo failed: the application's requests did not reach the service")


def wait_for_version(url: str, version: int) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if httpx.get(f"{url}/v2/models/{MODEL}", timeout=5).json()["versions"] == [str(version)]:
            return
        time.sleep(0.1)
    sys.exit(f"demo failed: the service did not move to version {version}")


# -- continuous training ----------------------------------------------------------------------

FIRST_TICK = "2007-04"  # from here the newest 63 logged rows are all from this replay
CT_CONFIG = """
[monitor]
window = "63"             # the newest 63 predicted rows: about three months of trading days

[monitor.alerts]
drifted_features = 7      # a quarter of the 28 features (fewer drift nearly every month)

[automate]
model = "market-trend"
alias = "shadow"          # the alias the loop moves; the service follows it
pipeline = "../pipeline.py:train"
params = { test_start = "last:63" }   # every label known so far, bar the last 63 days
fresh = 63                # judge on the newest 63 served days whose labels came back
criteria = ["accuracy drop <= 0.02 vs baseline on every dataset"]
policy = "auto"           # promote when accuracy (the decisive metric, its margin 0.02 from
                          # the criterion) is shown better on the served days, the criterion
                          # passes, and neither accuracy nor log loss is shown worse beyond its
                          # margin (Holm-corrected paired bootstrap tests)
debounce = 2              # a condition must hold on two ticks in a row

[[automate.triggers]]
kind = "drift"            # a quarter of the 28 features drifted (63-row window)
min_features = 7

[[automate.triggers]]
kind = "performance"      # the served version was right on fewer than half of its last
metric = "accuracy"       # 63 labelled days
below = 0.5
labelled = 63
"""


def continuous_training() -> None:
    """Replay 2007-2009 month by month through the service; labels come back once known, the
    data team adds each month's prices, and `rung automate tick` runs at every month's end."""
    import pandas as pd

    sys.path.insert(0, str(HERE))
    import app
    import features

    import rung

    print(
        "\n# Continuous training: 2007-2009 replayed month by month. After each month the"
        " platform sends the labels that became known (a day's trend is known 20 trading"
        " days later), the data team versions the month's prices, and cron runs"
        " `rung automate tick`."
    )
    with (WS / "rung.toml").open("a") as config:
        config.write(CT_CONFIG)
    print(CT_CONFIG)
    prices = pd.read_csv(WS / "prices.csv", parse_dates=["Date"])
    rows = app.feature_rows(WS / "prices.csv")
    truth = features.build_windows(prices, 20, 20).set_index("date")[["trend", "label_date"]]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    print(
        f"$ rung serve {MODEL}@shadow --port {port} --poll 0.5 --no-access-log"
        "   (in the background)"
    )
    print(
        f"At the end of every month from {FIRST_TICK}: `rung automate tick` (as cron would run"
        " it); before, the monitoring window of 63 rows would still reach into the 2008 replay."
    )
    quiet = ["--poll", "0.5", "--no-access-log"]  # a line per request would bury the output
    server = subprocess.Popen(
        [str(RUNG), "serve", f"{MODEL}@shadow", "--port", str(port), *quiet], cwd=WS
    )
    served: list[dict] = []  # one per purchase check: day, request id, version, warning
    waiting: list[dict] = []  # checks whose label is not known yet
    failed = 0
    try:
        wait_ready(url, server)
        with rung.Client(url) as client, rung.Workspace.open(WS) as ws:
            for month in pd.period_range("2007-01", "2009-12", freq="M"):
                days = rows.loc[str(month)].index
                for day in days:
                    try:
                        answer = app.check(client, rows, day)
                    except rung.RungError:
                        failed += 1
                        continue
                    served.append(answer)
                    waiting.append(answer)
                month_end = days[-1]
                known = [
                    a
                    for a in waiting
                    if truth.at[pd.Timestamp(a["day"]), "label_date"] <= month_end
                ]
                if known:
                    client.feedback_many(
                        [
                            {
                                "request_id": a["request_id"],
                                "label": truth.at[pd.Timestamp(a["day"]), "trend"],
                            }
                            for a in known
                        ]
                    )
                waiting = [a for a in waiting if a not in known]
                ws.data.add(prices[prices["Date"] <= month_end], name="sp500")
                versions = sorted({a["version"] for a in served if a["day"].startswith(str(month))})
                if str(month) < FIRST_TICK:
                    print(
                        f"{month}: {len(days)} checks answered by version"
                        f" {', '.join(map(str, versions))}; {len(known)} labels came back;"
                        " no tick yet (the log's newest 63 rows still hold the 2008 replay above)",
                        flush=True,
                    )
                    continue
                tick = sh(
                    str(RUNG), "automate", "tick", capture=True, show=False, echo=False, ok=(0, 1)
                )
                print(
                    f"{month}: {len(days)} checks answered by version"
                    f" {', '.join(map(str, versions))}; {len(known)} labels came back;"
                    f" tick: {'no trigger fired' if 'no trigger fired' in tick else 'a trigger fired'}",
                    flush=True,
                )
                if "no trigger fired" not in tick:
                    for out in tick.strip().splitlines():
                        print(f"    {out}", flush=True)
                    promoted = re.search(r"PROMOTED version (\d+)", tick)
                    if promoted:
                        wait_for_version(url, int(promoted.group(1)))
    finally:
        server.terminate()
        server.wait(timeout=30)
    if failed:
        sys.exit(f"demo failed: {failed} purchase checks failed during the replay")
    summarize_ct(served, truth)
    sh(str(RUNG), "automate", "history")
    sh(str(RUNG), "monitor", "show", MODEL, "--last", "12")
    sh(str(RUNG), "monitor", "report", MODEL, "-o", "monitoring.html")
    print(
        f"HTML monitoring report: {WS / 'monitoring.html'} (its time axis is the replay's"
        " wall-clock time: one monitoring window per replayed month from 2007-04)"
    )
    print(
        "\n# The whole story in a browser: why each version is serving, and the evidence"
        f"\n  cd {WS} && {RUNG} ui        # then open http://127.0.0.1:8080"
    )


def summarize_ct(served: list[dict], truth: Any) -> None:
    """Per served version: the days it answered, its accuracy and warnings against the truth."""
    import pandas as pd

    print(f"\n{len(served)} purchase checks over 2007-2009, none failed. By version:")
    for version in sorted({a["version"] for a in served}):
        mine = [a for a in served if a["version"] == version]
        labels = [truth.at[pd.Timestamp(a["day"]), "trend"] for a in mine]
        right = sum(
            (a["warn"] and t == "down") or (not a["warn"] and t == "up")
            for a, t in zip(mine, labels, strict=True)
        )
        warned = [t for a, t in zip(mine, labels, strict=True) if a["warn"]]
        precision = sum(t == "down" for t in warned) / len(warned) if warned else float("nan")
        print(
            f"  version {version}: {mine[0]['day']} to {mine[-1]['day']}, {len(mine)} days,"
            f" accuracy {right / len(mine):.3f}, {len(warned)} warnings,"
            f" precision_down {precision:.3f} (the business criterion asks >= 0.75)"
        )


if __name__ == "__main__":
    main()
