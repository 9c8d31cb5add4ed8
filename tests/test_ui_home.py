"""The home page of ``rung ui`` — why is each model serving? — through a real ``rung ui``:
its API against the Workspace's own answers on both backends, and the page in Chromium on
the story's workspace (every text a person or a stored row wrote shown as text, never run)
and on an empty one (what to do first)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rung.core.hashing import ordered_json
from ui_story import SCRIPTS, build

pytest.importorskip("sklearn")


def plain(value: Any) -> Any:
    """``value`` as the API's JSON reads back (NaN as a string, tuples as lists)."""
    return json.loads(ordered_json(value))


def test_home_api_is_the_workspace_s_evidence(ws, ui_server) -> None:  # type: ignore[no-untyped-def]
    from rung.automation.jobs import why_parts

    w = build(ws)
    url = ui_server(w.root)
    home = httpx.get(f"{url}/api/home", timeout=30).json()
    assert home["first_steps"] == [] and [m["name"] for m in home["models"]] == ["trend"]
    model = home["models"][0]
    assert (model["versions"], model["latest"]) == (2, 2)
    events = w.models.history("trend")
    for alias in ("champion", "stable"):
        shown = next(a for a in model["aliases"] if a["alias"] == alias)
        version = w.models.get(f"trend@{alias}")
        assert shown["ref"] == version.ref
        assert (shown["verdict"], shown["evaluation_id"]) == ("passed", version.evaluation_id)
        assert shown["evaluation_id"] is not None
        assert shown["criteria"] == list(version.gate["criteria"])
        assert shown["last_move"] == plain([e for e in events if e["alias"] == alias][-1])
        assert shown["links"]["evaluation"] == f"/evaluations/{version.evaluation_id}"
        assert shown["links"]["version"] == f"/models/trend/{version.version}"
        assert shown["links"]["run"] == f"/runs/{version.run_id}"
        assert shown["links"]["lineage"] == f"/lineage?from=model:{version.ref}"
    assert [a["alias"] for a in model["aliases"]] == ["champion", "stable"]
    newest = w.monitor.windows("trend")[-1]
    live = model["monitoring"]
    assert live["id"] == newest["id"] and live["drifted"] == newest["drifted"] == ["a"]
    assert live["served"] == newest["model"] == "trend@1"
    assert live["health"]["requests"] == newest["health"]["requests"]
    assert live["performance"]["labelled"] == newest["performance"]["labelled"]
    assert model["alerts"] == plain(w.monitor.alerts("trend", 3))
    job = w.automation.history()[-1]
    decided = model["automation"]
    assert (decided["id"], decided["decision"]) == (job["id"], "approved")
    assert decided["why"] == why_parts(job) and any(SCRIPTS[1] in p for p in decided["why"])
    assert decided["links"]["evaluation"] == f"/evaluations/{job['evaluation_id']}"
    assert [(d["job"], d["decision"], d["challenger"]) for d in model["decisions"]] == [
        (j["id"], j["decision"] or j["state"], j["challenger"]) for j in w.automation.history()
    ]


def test_home_page_shows_the_chain_of_evidence_as_text(sqlite_ws, ui_server, watched) -> None:  # type: ignore[no-untyped-def]
    w = build(sqlite_ws)
    url = ui_server(w.root)
    dialogs: list[str] = []
    watched.page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    watched.visit(url + "/", shot="home")
    page = watched.page
    text = page.inner_text("main")
    for script in SCRIPTS:  # a promotion's reason, an alert, an approval: shown as text
        assert script in text
    assert page.locator('img[src="x"]').count() == 0
    assert page.locator("script", has_text="alert(1)").count() == 0
    assert "trend@2" in text and "passed" in text and "approved" in text
    hrefs = set(page.eval_on_selector_all("main a", "els => els.map(e => e.getAttribute('href'))"))
    champion = w.models.get("trend@champion")
    job = w.automation.history()[-1]
    for href in (
        f"/evaluations/{champion.evaluation_id}",
        "/models/trend/2",
        f"/runs/{champion.run_id}",
        "/monitoring/trend",
        f"/automation/{job['id']}",
        "/lineage?from=model:trend@2",
    ):
        assert href in hrefs, (href, hrefs)
    assert dialogs == []


def test_an_empty_workspace_says_what_to_do_first(sqlite_ws, ui_server, watched) -> None:  # type: ignore[no-untyped-def]
    url = ui_server(sqlite_ws.root)
    answer = httpx.get(f"{url}/api/home", timeout=30).json()
    assert answer["models"] == [] and answer["first_steps"]
    watched.visit(url + "/", shot="home-empty")
    steps = watched.page.inner_text("#first-steps")
    for step in answer["first_steps"]:
        assert step["command"] in steps
    for path, hint in (
        ("/monitoring", "No model is registered"),
        ("/automation", "No automation job"),
    ):
        watched.visit(url + path, shot=f"{path.strip('/')}-empty")
        assert hint in watched.page.inner_text("main")


@pytest.fixture(scope="module")
def story_pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The dicts each page of this area renders from, for the story's workspace (SQLite)."""
    from rung import Workspace
    from rung.web.automation import automation_index, automation_job
    from rung.web.home import home
    from rung.web.monitoring import monitoring_index, monitoring_of

    with Workspace.init(tmp_path_factory.mktemp("story") / "ws") as ws:
        w = build(ws)
        job = w.automation.history()[-1]["id"]
        return {
            "home.html": {"home": home(w)},
            "monitoring.html": {"index": monitoring_index(w)},
            "monitoring_model.html": {"data": monitoring_of(w, "trend")},
            "automation.html": {"index": automation_index(w)},
            "automation_job.html": {"job": automation_job(w, str(job))},
        }


def poisoned(value: Any, text: str) -> Any:
    """``value`` with every string in it (not the keys) replaced by ``text``."""
    if isinstance(value, str):
        return text
    if isinstance(value, dict):
        return {k: poisoned(v, text) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [poisoned(v, text) for v in value]
    return value


@given(
    text=st.one_of(
        st.sampled_from(SCRIPTS),
        st.text(alphabet=st.sampled_from("<>&\"'/=;: ascriptimgonerloa()1{}"), min_size=1),
    )
)
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_every_text_of_every_page_is_escaped(story_pages: dict[str, Any], text: str) -> None:
    """Whatever text a stored row holds — in any field the pages show (names, reasons, alert
    texts, deliveries, criteria, evidence, links) — each page writes it escaped, never as
    markup: the kind of fault a script-carrying name is one example of."""
    from markupsafe import escape

    benign = "".join("x" if c in "<>&\"'" else c for c in text)
    for template, context in story_pages.items():
        page = render(template, context, text)
        assert str(escape(text)) in page, template
        # the same elements and attributes as with a text that holds no markup characters
        assert markup(page) == markup(render(template, context, benign)), (template, text)


def render(template: str, context: dict[str, Any], text: str) -> str:
    """``template`` rendered from ``context`` with every string replaced by ``text``."""
    from rung.core.hashing import ordered_json
    from rung.web.render import environment

    bad = {k: poisoned(v, text) for k, v in context.items()}
    extra: dict[str, Any] = {}
    if "data" in bad:
        extra["chart_json"] = ordered_json(bad["data"])
    if "job" in bad:
        extra["evidence_text"] = json.dumps(bad["job"]["evidence"], indent=2)
    return str(
        environment()
        .get_template(template)
        .render(request=None, path="/", token=None, can_act=False, title="t", **bad, **extra)
    )


def markup(page: str) -> list[tuple[str, ...]]:
    """The elements of ``page`` in order: each tag with its attributes' names."""
    from html.parser import HTMLParser

    found: list[tuple[str, ...]] = []

    class Tags(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.append((tag, *sorted(name for name, _ in attrs)))

    Tags().feed(page)
    return found


def test_the_first_steps_are_rung_s_own_commands() -> None:
    """Each command an empty workspace is told to run is a command of rung's CLI, with the
    options it is written with (a renamed command or option fails here, not a newcomer)."""
    import click

    from rung.cli.main import app
    from rung.web.home import FIRST_STEPS

    root = typer_main(app)
    for _, line in FIRST_STEPS:
        for command in line.split(" · "):
            words = command.split()
            assert words[0] == "rung", command
            found, rest = root, words[1:]
            while rest and isinstance(found, click.Group) and rest[0] in found.commands:
                found, rest = found.commands[rest[0]], rest[1:]
            assert found is not root, command
            options = {o for p in found.params for o in p.opts}
            for word in rest:
                assert not word.startswith("--") or word in options, (command, word)


def typer_main(app: Any) -> Any:
    """The click command behind a typer app."""
    import typer

    return typer.main.get_command(app)
