"""``rung ui``'s runs table and the app's protection, over a real ``rung ui`` on 127.0.0.1.

* The API's filter is the CLI's (one query language, one compiler): any filter selects the
  same runs through ``/api/runs`` as through ``ws.runs.list``; a malformed one is a 400 in the
  canonical shape, naming the position and the fix, and the page shows it above the table.
* Sorting by any sortable key and paging: the pages, concatenated, are every selected run
  once, in the key's order (runs without the value last, ties newest first).
* Tokens: the same token file and scopes as ``rung serve`` — no token: 401 (the API) or the
  sign-in page (a page); ``read`` reads; ``predict`` does not; anything that changes
  something needs ``admin``; a foreign ``Origin`` cannot post with the cookie.
* Nothing a run holds is written into a page unescaped.
"""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import rung_cli

NASTY = ['<script>alert("x")</script>', '"><img src=x onerror=alert(1)>', "a&b <i>", "plain"]


@pytest.fixture
def populated(ws):  # type: ignore[no-untyped-def]
    """24 tracking runs: names with markup, params C (numbers), kind (texts), metrics acc
    (some NaN or missing) and loss."""
    for i in range(24):
        with ws.start_run(NASTY[i % 4], {"C": [0.1, 1, 10][i % 3], "kind": NASTY[i % 4]}) as r:
            if i % 5 != 4:
                r.log_metric("acc", float("nan") if i % 7 == 3 else 0.5 + (i * 7 % 24) / 100)
            r.log_metric("loss", 1.0 - i / 48)
    return ws


FILTERS = [
    "metrics.acc > 0.6",
    "metrics.acc > 0.6 and params.C in (0.1, 1)",
    'params.kind = "plain" or metrics.loss <= 0.7',
    "not metrics.acc between 0.55 and 0.7",
    'name like "%script%"',
    "id in (1, 5, 24)",
    'status = "succeeded" and (params.C = 10 or metrics.acc < 0.52)',
]


def test_the_api_filters_sorts_and_pages_as_the_workspace_does(populated, ui_server) -> None:  # type: ignore[no-untyped-def]
    ws = populated
    url = ui_server(ws.root)
    for text in FILTERS:
        expected = [r.id for r in ws.runs.list(1000, filter=text)]
        got = httpx.get(f"{url}/api/runs", params={"filter": text, "limit": 500}).json()
        assert [r["id"] for r in got["runs"]] == expected and got["total"] == len(expected), text
    everything = {r.id: r for r in ws.runs.list(1000)}
    orders = ["id", "-id", "metrics.acc", "-metrics.acc", "name", "-started_at", "seconds"]
    for order in [*orders, "params.C", "-params.kind", "params.kind"]:
        pages, offset = [], 0
        while True:
            body = httpx.get(
                f"{url}/api/runs", params={"order": order, "limit": 5, "offset": offset}
            ).json()
            pages += [r["id"] for r in body["runs"]]
            offset += 5
            if offset >= body["total"]:
                break
        assert sorted(pages) == sorted(everything), order  # every run once
        assert pages == _python_order(list(everything.values()), order), order


def _python_order(runs: list[Any], order: str) -> list[int]:
    """The order a sort key means, computed in Python: present values in the key's direction,
    runs without the value (or NaN) last, ties newest first; a parameter's numbers before its
    texts (by code point)."""
    descending = order.startswith("-")
    key = order.lstrip("-")
    if key.startswith("params."):
        name = key[len("params.") :]

        def group(r: Any) -> int:
            v = r.params.get(name)
            if isinstance(v, int | float) and not isinstance(v, bool):
                return 0
            return 1 if isinstance(v, str) else 2

        ranked = []
        for g in (0, 1):
            members = sorted((r for r in runs if group(r) == g), key=lambda r: -r.id)
            members.sort(key=lambda r: r.params[name], reverse=descending)
            ranked += members
        ranked += sorted((r for r in runs if group(r) == 2), key=lambda r: -r.id)
        return [r.id for r in ranked]

    def value(r: Any) -> Any:
        if key.startswith("metrics."):
            v = r.metrics.get(key[len("metrics.") :])
            return None if v is None or math.isnan(v) else v
        return r.seconds if key == "seconds" else getattr(r, key)

    present = [r for r in runs if value(r) is not None]
    present.sort(key=lambda r: -r.id)  # ties: newest first (stable sorts keep it)
    present.sort(key=value, reverse=descending)
    absent = sorted((r for r in runs if value(r) is None), key=lambda r: -r.id)
    return [r.id for r in present + absent]


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"filter": "metrics.acc >"}, "ends too early"),
        ({"filter": "metrics.acc > 0.5 adn id = 1"}, "position"),
        ({"filter": 'stauts = "failed"'}, "did you mean 'status'"),
        ({"order": "-statsu"}, "did you mean 'status'"),
        ({"order": "params.nosuch"}, "no run has a parameter"),
    ],
)
def test_a_malformed_filter_or_order_is_a_400_naming_the_fix(  # type: ignore[no-untyped-def]
    sqlite_ws, ui_server, params: dict[str, str], says: str
) -> None:
    url = ui_server(sqlite_ws.root)
    answer = httpx.get(f"{url}/api/runs", params=params)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert set(error) == {"type", "message", "hint", "fields"} and error["type"] == "BadQuery"
    assert says in f"{error['message']} {error['hint']}" and "\n" not in error["message"]
    page = httpx.get(f"{url}/runs", params=params)
    assert page.status_code == 400 and says.replace("'", "&#39;") in page.text


def test_query_parameters_of_the_wrong_type_are_the_canonical_422(sqlite_ws, ui_server) -> None:  # type: ignore[no-untyped-def]
    url = ui_server(sqlite_ws.root)
    for params in ({"limit": "abc"}, {"limit": "0"}, {"offset": "-1"}, {"limit": "1001"}):
        answer = httpx.get(f"{url}/api/runs", params=params)
        assert answer.status_code == 422, params
        assert next(iter(params)) in answer.json()["error"]["message"]
    missing = httpx.get(f"{url}/api/nosuch")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "RungError"
    page = httpx.get(f"{url}/nosuch")
    assert page.status_code == 404 and 'href="/"' in page.text


def _token(root: Any, name: str, scope: str) -> str:
    out = rung_cli("token", "create", name, "--scope", scope, cwd=root)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def test_the_tokens_and_scopes_of_rung_serve(sqlite_ws, ui_server) -> None:  # type: ignore[no-untyped-def]
    root = sqlite_ws.root
    reader, predictor, admin = (_token(root, n, s) for n, s in
                                [("r", "read"), ("p", "predict"), ("a", "admin")])  # fmt: skip
    url = ui_server(root)
    assert httpx.get(f"{url}/api/runs").status_code == 401
    assert httpx.get(f"{url}/healthz").status_code == 200  # open: probes
    assert httpx.get(f"{url}/static/rung.css").status_code == 200  # open: the sign-in page's
    to_login = httpx.get(f"{url}/runs?filter=id%3D1")
    assert to_login.status_code == 303
    assert to_login.headers["location"] == "/login?next=%2Fruns%3Ffilter%3Did%253D1"

    def get(token: str, path: str = "/api/runs") -> int:
        return httpx.get(url + path, headers={"Authorization": f"Bearer {token}"}).status_code

    assert get(reader) == 200 and get(admin) == 200 and get(predictor) == 403
    assert get("rung_" + "x" * 43) == 401
    for token, status in [(reader, 403), (predictor, 403)]:  # changing anything needs admin
        answer = httpx.post(f"{url}/api/runs", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == status
        assert "admin" in answer.json()["error"]["hint"]
    # the browser's way: the sign-in form sets an HttpOnly, SameSite=Strict cookie
    wrong = httpx.post(f"{url}/login", data={"token": "nope", "next": "/runs"})
    assert wrong.status_code == 401 and "not one this server accepts" in wrong.text
    signed = httpx.post(f"{url}/login", data={"token": reader, "next": "//evil.example/x"})
    assert signed.status_code == 303 and signed.headers["location"] == "/"  # no open redirect
    cookie = signed.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    jar = {"rung_token": reader}
    assert httpx.get(f"{url}/runs", cookies=jar).status_code == 200
    foreign = httpx.post(
        f"{url}/api/runs", cookies={"rung_token": admin}, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403 and "evil.example" in foreign.json()["error"]["message"]


def test_a_non_loopback_ui_without_tokens_is_refused_in_one_line(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    out = rung_cli("ui", "--host", "0.0.0.0", "--port", "0", cwd=sqlite_ws.root)
    assert out.returncode == 1 and out.stderr.count("\n") == 1
    assert "without tokens" in out.stderr and "--scope read" in out.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--port", "abc"], "abc"),
        (["--port", "-1"], "-1"),
        (["--port", "70000"], "70000"),
        (["--tokens", "nosuch"], "no token file nosuch"),
        (["--host", "no such host"], "no such host"),
        (["--allow-host", "a b"], "a b"),
        (["--prot", "1"], "--prot"),
    ],
)
def test_bad_options_of_rung_ui_are_one_line(sqlite_ws, args: list[str], says: str) -> None:  # type: ignore[no-untyped-def]
    """(Not in test_cli_walk's in-process walk: valid options would serve for good there.)"""
    out = rung_cli("ui", *args, cwd=sqlite_ws.root)
    lines = out.stderr.strip().splitlines()
    assert out.returncode in (1, 2) and len(lines) == 1 and lines[0].startswith("error: ")
    assert says in lines[0] and "Traceback" not in out.stderr


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(name=st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30))
def test_any_run_name_is_shown_as_text(populated_once: Any, name: str) -> None:
    """Whatever a run's name holds, the page's HTML has it escaped: the text between tags
    never contains a raw ``<`` from the workspace."""
    from markupsafe import escape  # Jinja2's own

    ws, url = populated_once
    with ws.start_run(name) as _:
        pass
    html = httpx.get(f"{url}/runs", params={"limit": 1}).text
    assert str(escape(name)) in html
    assert ("<" not in name) or (name not in html)


@pytest.fixture(scope="module")
def populated_once(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from rung import Workspace
    from ui_support import start_ui

    root = tmp_path_factory.mktemp("ui") / "ws"
    ws = Workspace.init(root)
    proc, url = start_ui(root, env={"RUNG_STORE_URL": ""})
    yield ws, url
    proc.terminate()
    proc.wait(timeout=20)
    ws.close()


def test_the_runs_page_in_a_browser(populated, ui_server, watched) -> None:  # type: ignore[no-untyped-def]
    """Filter, sort, remembered columns, compare's checkboxes; no dialog ever opens."""
    url = ui_server(populated.root)
    page = watched.page
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    watched.visit(f"{url}/runs", shot="runs")
    assert page.locator("#runs tbody tr").count() == 24
    page.fill("#filter", "metrics.acc > 0.6 and params.C in (0.1, 1)")
    page.click("#filter-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    expected = [
        r.id for r in populated.runs.list(100, filter="metrics.acc > 0.6 and params.C in (0.1, 1)")
    ]
    shown = [int(t) for t in page.locator("#runs tbody tr td:nth-child(2)").all_inner_texts()]
    assert shown == expected
    watched.check(shot="runs-filtered")
    page.click("#runs thead a.sort:text('acc')")
    page.wait_for_load_state("networkidle")
    assert "order=metrics.acc" in page.url
    # a chosen column is remembered: a later visit without ?columns opens with it
    page.click("#column-chooser summary")
    page.fill("#columns-input", "metrics.loss,params.kind")
    page.click("#columns-apply")
    page.wait_for_load_state("networkidle")
    watched.visit(f"{url}/runs")
    page.wait_for_url("**columns=metrics.loss%2Cparams.kind**")
    headers = page.locator("#runs thead th").all_inner_texts()
    assert "loss" in " ".join(headers) and "kind" in headers and "acc" not in " ".join(headers)
    assert page.locator('text=<script>alert("x")</script>').count() > 0  # shown as text
    watched.visit(f"{url}/runs?filter=metrics.acc%20%3E", status=400, shot="runs-bad-filter")
    assert "ends too early" in page.inner_text("#filter-error")
    assert not dialogs


def test_a_listing_stays_put_while_runs_are_added(populated, ui_server) -> None:  # type: ignore[no-untyped-def]
    """Pages of one listing (its ``upto``) neither repeat nor skip a run when runs are added
    between two requests; the default columns are the same on every page and in every
    order; repeated filters are and-ed, as ``rung runs -f A -f B``."""
    ws = populated
    url = ui_server(ws.root)
    first = httpx.get(f"{url}/api/runs", params={"limit": 10}).json()
    for i in range(3):
        with ws.start_run(f"late {i}") as r:
            r.log_metric("acc", 0.99)
    second = httpx.get(
        f"{url}/api/runs", params={"limit": 10, "offset": 10, "upto": first["upto"]}
    ).json()
    ids = [r["id"] for r in first["runs"] + second["runs"]]
    assert ids == list(range(first["upto"], first["upto"] - 20, -1))
    assert second["total"] == first["total"] == 24
    pages = [
        httpx.get(f"{url}/api/runs", params=p).json()["columns"]
        for p in ({}, {"offset": 20}, {"order": "metrics.loss"}, {"limit": 3})
    ]
    assert all(c == pages[0] for c in pages)
    both = httpx.get(
        f"{url}/api/runs", params=[("filter", "metrics.acc > 0.6"), ("filter", 'name like "%i%"')]
    ).json()
    expected = [r.id for r in ws.runs.list(100, filter=["metrics.acc > 0.6", 'name like "%i%"'])]
    assert [r["id"] for r in both["runs"]] == expected and 0 < len(expected) < 24


def test_columns_and_sort_keys_are_named_as_in_a_filter(sqlite_ws, ui_server) -> None:  # type: ignore[no-untyped-def]
    with sqlite_ws.start_run("odd", {"learning, rate": 0.1}) as r:
        r.log_metric("val loss", 0.5)
    url = ui_server(sqlite_ws.root)
    body = httpx.get(
        f"{url}/api/runs",
        params={
            "columns": "metrics.`val loss`,params.`learning, rate`",
            "order": "-metrics.`val loss`",
        },
    ).json()
    assert [c["key"] for c in body["columns"]] == ["val loss", "learning, rate"]
    for params, says in [
        ({"columns": "metrics.val loss"}, "metrics.`val loss`"),
        ({"order": "metrics.`vall loss`"}, "metrics.`val loss`"),
        ({"columns": "status"}, "always shown"),
        ({"columns": "metrics.val loss"}, "metrics.`val loss`"),
        ({"columns": "metrics.`vall loss`"}, "did you mean 'metrics.`val loss`'"),
        ({"columns": "params.`learning rate`"}, "did you mean 'params.`learning, rate`'"),
        ({"columns": ",".join(f"metrics.m{i}" for i in range(101))}, "over the limit"),
    ]:
        answer = httpx.get(f"{url}/api/runs", params=params)
        assert answer.status_code == 400 and says in answer.text, (params, answer.text)
        page = httpx.get(f"{url}/runs", params=params)  # the table, the mistake above it
        assert page.status_code == 400 and 'id="runs-state"' in page.text
    for params in ({"limit": "abc"}, {"offset": "-1"}, {"upto": "x"}):
        page = httpx.get(f"{url}/runs", params=params)
        assert page.status_code == 400 and 'id="filter-form"' in page.text, params


def test_every_answer_is_hardened_and_head_is_get_without_a_body(sqlite_ws, ui_server) -> None:  # type: ignore[no-untyped-def]
    url = ui_server(sqlite_ws.root)
    for path in ("/", "/runs", "/api/runs", "/nosuch", "/static/rung.css", "/favicon.ico"):
        got, head = httpx.get(url + path), httpx.head(url + path)
        assert head.status_code == got.status_code and head.content == b"", path
        for answer in (got, head):
            assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert answer.headers["x-frame-options"] == "DENY"
    assert httpx.get(url + "/favicon.ico").headers["content-type"].startswith("image/svg+xml")


def test_past_the_last_page_and_wrong_typed_values_say_so_in_one_line(populated, ui_server) -> None:  # type: ignore[no-untyped-def]
    url = ui_server(populated.root)
    page = httpx.get(f"{url}/runs", params={"offset": 9999})
    assert page.status_code == 200 and "Past the last page: 24 runs" in page.text
    for path, says in [
        ("/api/runs?limit=abc", "limit 'abc' is not a whole number"),
        ("/api/runs?limit=0", "limit '0' is out of range"),
        ("/api/runs?upto=-1", "upto '-1' is out of range"),
    ]:
        answer = httpx.get(url + path)
        assert answer.status_code == 422 and answer.json()["error"]["message"] == says, path
