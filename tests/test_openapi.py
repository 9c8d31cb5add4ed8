"""The OpenAPI document of a real ``rung serve``, judged by schemathesis with all its checks,
and ``/docs`` and ``/redoc`` served without any external URL (they work offline).

The model has a nullable numeric feature (``age``, nulls in training), a categorical and an
integer one, so that the document's nullability (JSON Schema 2020-12, never 3.0's
``nullable``), enums and ranges are all exercised against the server.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import numpy as np
import pandas as pd
import pytest

from conftest import start_server

pytestmark = pytest.mark.xdist_group("openapi")  # one trained model and server per run

TRAIN = textwrap.dedent(
    """
    import rung
    from sklearn.compose import make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    @rung.step
    def fit(frame):
        prep = make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), ["color"]),
            (SimpleImputer(), ["age"]),
            remainder="passthrough",
        )
        return make_pipeline(prep, LogisticRegression()).fit(
            frame[["age", "color", "n"]], frame["y"]
        )

    @rung.pipeline
    def train():
        return fit(rung.dataset("train"))
    """
)


def frame(n: int, seed: int) -> pd.DataFrame:
    r = np.random.default_rng(seed)
    age = r.normal(40, 10, n)
    age[::7] = np.nan
    color = r.choice(["red", "blue"], n)
    y = np.where(np.nan_to_num(age, nan=40) / 40 + (color == "red") > 1.5, "yes", "no")
    return pd.DataFrame({"age": age, "color": color, "n": r.integers(0, 10, n), "y": y})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from rung import Workspace

    with Workspace.init(tmp_path_factory.mktemp("openapi") / "ws") as ws:
        (ws.root / "train.py").write_text(TRAIN)
        ws.data.add(frame(200, 1), name="train")
        run = ws.run("train.py:train")
        ws.models.register(str(run.id), "trend")
        ws.models.promote("trend", 1, force=True, reason="test")
        proc, url = start_server(ws.root, "trend@champion")
        try:
            yield ws, url
        finally:
            proc.terminate()
            proc.wait(timeout=30)


TRAIN_CHURN = textwrap.dedent(
    """
    import rung
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    @rung.step
    def fit(frame):
        prep = make_column_transformer((OneHotEncoder(), ["plan"]), remainder="passthrough")
        x = frame[["hours", "plan", "flag"]]
        return make_pipeline(prep, LogisticRegression()).fit(x, frame["y"])

    @rung.pipeline
    def train():
        return fit(rung.dataset("churn"))
    """
)


def churn_frame(n: int, seed: int) -> pd.DataFrame:
    r = np.random.default_rng(seed)
    hours = r.uniform(0, 50, n)
    plan = r.choice(["basic", "pro"], n)
    flag = r.random(n) > 0.5
    y = np.where(hours / 25 + (plan == "pro") + flag > 1.5, "yes", "no")
    return pd.DataFrame({"hours": hours, "plan": plan, "flag": flag, "y": y})


@pytest.fixture(scope="module")
def two_models(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """`rung serve trend@champion churn@champion`: two models of different features (the
    same classes: a label's fit depends on its request's model, which no schema can say)."""
    from rung import Workspace

    with Workspace.init(tmp_path_factory.mktemp("openapi2") / "ws") as ws:
        (ws.root / "train.py").write_text(TRAIN)
        (ws.root / "churn.py").write_text(TRAIN_CHURN)
        ws.data.add(frame(200, 1), name="train")
        ws.data.add(churn_frame(200, 2), name="churn")
        for script, name in (("train.py:train", "trend"), ("churn.py:train", "churn")):
            run = ws.run(script)
            ws.models.register(str(run.id), name)
            ws.models.promote(name, 1, force=True, reason="test")
        proc, url = start_server(ws.root, "trend@champion", "churn@champion")
        try:
            yield ws, url
        finally:
            proc.terminate()
            proc.wait(timeout=30)


@pytest.mark.parametrize("served", ["server", "two_models"])
def test_schemathesis_with_all_checks_finds_nothing(
    served: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Every documented operation, positive and negative cases, every check, against one
    model and against two in one process. Deterministic (no seed, no example database) and
    bounded (20 examples an operation). The stateful phase is left out: a label must name a
    row of the request it is for and the number of rows is the prediction's, a rule of the
    server's state no schema can state."""
    _, url = request.getfixturevalue(served)
    v2_error = httpx.get(f"{url}/v2/models/not-served").json().get("error")
    protocol_errors = isinstance(v2_error, str)  # the v2 routes' {"error": "<message>"}
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        "20",
        "--generation-deterministic",
        "--phases",
        "examples,coverage,fuzzing",
        "--workers",
        "1",
        "--no-color",
        "--request-timeout",
        "30",
    ]
    if not protocol_errors:  # until the v2 routes answer in the protocol's error body
        command += ["--exclude-path-regex", "^/v2"]
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "schemathesis_hooks",
        "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]
        ),
    }
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-20000:] + done.stderr[-5000:]
    tested = re.search(r"Tested: (\d+)", done.stdout)
    assert tested is not None and int(tested.group(1)) >= (8 if protocol_errors else 3), done.stdout


def test_the_document_is_openapi_3_1_and_what_the_server_does(server) -> None:  # type: ignore[no-untyped-def]
    """A null where training had nulls is allowed as JSON Schema 2020-12 says it, and the
    server takes it; no 3.0 ``nullable``; no FastAPI 422 that no route returns; ``/metrics``
    as Prometheus text; request bodies for every POST; at least one row."""
    _, url = server
    doc = httpx.get(f"{url}/openapi.json").json()
    text = httpx.get(f"{url}/openapi.json").text
    assert doc["openapi"].startswith("3.1")
    assert '"nullable"' not in text and "HTTPValidationError" not in text
    # no boolean schema (``"items": false``): client generators such as openapi-python-client
    # refuse the whole document for one
    assert not list(_boolean_schemas(doc)), list(_boolean_schemas(doc))[:3]
    record = doc["components"]["schemas"]["Record"]
    assert record["properties"]["age"]["type"] == ["number", "null"]
    assert record["properties"]["color"]["type"] == "string"
    got = httpx.post(f"{url}/predict", json={"age": None, "color": "red", "n": 3})
    assert got.status_code == 200, got.text
    refused = httpx.post(f"{url}/predict", json={"age": 1.0, "color": None, "n": 3})
    assert refused.status_code == 422, refused.text
    schemas = doc["components"]["schemas"]
    assert schemas["Records"]["properties"]["records"]["minItems"] == 1
    columns = schemas["Columns"]["properties"]["columns"]["properties"]
    assert all(c["minItems"] == 1 for c in columns.values())
    for empty in ({"records": []}, {"columns": {"age": [], "color": [], "n": []}}):
        assert httpx.post(f"{url}/predict", json=empty).status_code == 422
    paths = doc["paths"]
    for path, item in paths.items():
        for method, op in item.items():
            if method == "post":
                assert "application/json" in op["requestBody"]["content"], path
                assert {"413", "415", "500"} <= set(op["responses"]), path
            for status, answer in op["responses"].items():
                if status.startswith(("4", "5")):
                    assert answer["content"]["application/json"]["schema"], (path, status)
    metrics = paths["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(metrics) == ["text/plain; version=0.0.4"]
    served = httpx.get(f"{url}/metrics").headers["content-type"]
    assert served.startswith("text/plain; version=0.0.4")
    infer = paths["/v2/models/{name}/infer"]["post"]
    assert "404" in infer["responses"] and "422" not in infer["responses"]


def test_feedback_row_as_an_integral_number(server) -> None:  # type: ignore[no-untyped-def]
    """JSON (and JSON Schema's ``integer``) has no integer type apart from numbers: ``0.0`` is
    row 0, as ``3.0`` is the integer 3 in an integer feature; ``0.5`` is still refused."""
    _, url = server
    rid = httpx.post(f"{url}/predict", json={"age": 30.0, "color": "red", "n": 3.0}).json()
    label = rid["predictions"][0]
    ok = httpx.post(
        f"{url}/feedback", json={"request_id": rid["request_id"], "row": 0.0, "label": label}
    )
    assert ok.status_code == 200 and ok.json()["accepted"] == 1, ok.text
    bad = httpx.post(
        f"{url}/feedback", json={"request_id": rid["request_id"], "row": 0.5, "label": label}
    )
    assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["loc"][-1] == "row"


def _referenced(html: str) -> list[str]:
    return re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*["']([^"']+)["']""", html)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_load_everything_from_the_server(server, page: str) -> None:  # type: ignore[no-untyped-def]
    """Swagger UI and ReDoc: the page and every script, stylesheet, icon and the document it
    names come from the server itself; no other host is named anywhere in the page."""
    _, url = server
    answer = httpx.get(url + page)
    assert answer.status_code == 200 and "text/html" in answer.headers["content-type"]
    html = answer.text
    assert not re.search(r"(?:https?:)?//(?!127\.0\.0\.1)[\w.-]+\.[a-z]{2,}", html), html
    named = [a or b for a, b in _referenced(html)]
    assert any(n.endswith(".js") for n in named), named
    assert "/openapi.json" in named or "/openapi.json" in html
    for ref in named:
        asset = httpx.get(urljoin(url + page, ref))
        assert asset.status_code == 200 and len(asset.content) > 0, ref
    if page == "/docs":
        assert any(n.endswith(".css") for n in named) and "validatorUrl" in html


def _valid(doc: dict[str, Any], schema: dict[str, Any], value: Any) -> bool:
    """Whether ``value`` fits ``schema`` of the document, as JSON Schema 2020-12 says (the
    validator schemathesis itself uses)."""
    import jsonschema_rs

    root = {**schema, "components": doc["components"]}
    return bool(jsonschema_rs.Draft202012Validator(root).is_valid(value))


def test_what_the_document_allows_the_server_takes_and_what_it_refuses_the_server_refuses(
    server,
) -> None:  # type: ignore[no-untyped-def]
    """A family of bodies, each judged by the document and by the server: they agree."""
    _, url = server
    doc = httpx.get(f"{url}/openapi.json").json()
    predict = doc["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    row = {"age": 31.5, "color": "red", "n": 2}
    for body in (
        row,
        {**row, "age": None},
        {**row, "extra": [1, {"x": 2}]},  # a record's other keys are ignored
        {"records": [row, {**row, "color": "blue"}]},
        {"columns": {"age": [1.0, None], "color": ["red", "blue"], "n": [1, 2]}},
        {"columns": {"age": [1.0], "color": ["red"], "n": [1], "other": "not a list"}},
        {"records": []},
        {"records": [row], "extra": 1},
        {**row, "records": [row]},
        {**row, "color": None},
        {**row, "color": "green"},
        {**row, "n": 2.5},
        {**row, "age": True},
        {"columns": {"age": [], "color": [], "n": []}},
    ):
        documented = _valid(doc, predict["schema"], body)
        answer = httpx.post(f"{url}/predict", json=body)
        assert documented == (answer.status_code == 200), (body, answer.text)
    infer = doc["paths"]["/v2/models/{name}/infer"]["post"]["requestBody"]["content"]
    schema = infer["application/json"]["schema"]
    tensors = [
        {"name": "age", "shape": [2], "datatype": "FP64", "data": [1.0, 2]},
        {"name": "color", "shape": [2], "datatype": "BYTES", "data": ["red", "blue"]},
        {"name": "n", "shape": [2], "datatype": "INT64", "data": [1, 2]},
    ]
    assert _valid(doc, schema, {"inputs": tensors, "outputs": [{"name": "predict"}]})
    assert not _valid(doc, schema, {"inputs": tensors[:2]})  # a feature missing
    assert not _valid(doc, schema, {"inputs": [*tensors, tensors[0]]})  # one named twice
    assert not _valid(doc, schema, {"inputs": tensors, "outputs": [{"name": "nope"}]})
    # the datatypes that hold a feature's values: an integer one for numbers only in range
    small = {"name": "n", "shape": [2, 1], "datatype": "UINT8", "data": [[1], [2]]}
    assert _valid(doc, schema, {"inputs": [*tensors[:2], small]})
    big = {**small, "data": [[1], [256]]}
    assert not _valid(doc, schema, {"inputs": [*tensors[:2], big]})
    text = {**small, "datatype": "BYTES", "data": [["1"], ["2"]]}
    assert not _valid(doc, schema, {"inputs": [*tensors[:2], text]})
    # the protocol's JSON has no null: a nullable feature's nulls do not go this way
    null = {**tensors[0], "data": [1.0, None]}
    assert not _valid(doc, schema, {"inputs": [null, *tensors[1:]]})
    params = doc["paths"]["/v2/models/{name}"]["get"]["parameters"]
    assert params[0]["schema"]["enum"] == ["trend"]


def test_tokens_put_a_bearer_scheme_and_401_403_on_the_routes_that_need_one() -> None:
    """With tokens, each route's scope (as the server's own rule gives it) is documented;
    open routes have none; without tokens no route mentions them."""
    from rung.serving.openapi import document

    base: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "0"},
        "paths": {
            "/predict": {"post": {"responses": {}}},
            "/feedback": {"post": {"responses": {}}},
            "/v2/health/live": {"get": {"responses": {}}},
        },
    }
    signature = {"features": ["a"], "columns": {"a": {"kind": "numeric", "dtype": "float64"}}}

    def scope_of(method: str, path: str) -> str | None:
        return None if path.startswith("/v2/health") else path.strip("/")

    doc = document(base, signature, "m", 1, scope_of)
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for path in ("/predict", "/feedback"):
        post = doc["paths"][path]["post"]
        assert post["security"] == [{"bearer": []}] and {"401", "403"} <= set(post["responses"])
        assert path.strip("/") in post["responses"]["403"]["description"]
    live = doc["paths"]["/v2/health/live"]["get"]
    assert "security" not in live and "401" not in live["responses"]
    plain = document(base, signature, "m", 1)
    assert "securitySchemes" not in plain["components"]
    assert not any("401" in op["responses"] for i in plain["paths"].values() for op in i.values())


def test_a_datetime_feature_is_documented_as_the_service_reads_it() -> None:
    """ISO 8601 as the service reads it (a date alone too), not RFC 3339's date-time, which
    refuses "2024-05-01" and allows a lowercase "t" the service does not."""
    import re as regex

    from rung.core.columns import ColumnKind, problem
    from rung.serving.openapi import feature_schema

    spec = {"kind": "datetime", "dtype": "datetime64[ns]"}
    pattern = regex.compile(feature_schema(spec)["pattern"])
    kind = ColumnKind.from_dict(spec)
    for value in ("2024-05-01", "2024-05-01T12:00:00", "2024-05-01 12:00", "2024-05-01t12:00"):
        assert (pattern.search(value) is not None) == (problem(value, kind) is None), value


def test_every_v2_route_is_described_whatever_its_parameters_are_named() -> None:
    """The versioned paths and ``GET /v2`` (server metadata) as their unversioned twins: the
    protocol's objects, its error body, the served name and version as the only values."""
    from rung.serving.openapi import document

    def param(name: str) -> dict[str, Any]:
        return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}

    versioned = "/v2/models/{model_name}/versions/{model_version}"
    params = [param("model_name"), param("model_version")]
    base: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "0"},
        "paths": {
            "/v2": {"get": {"responses": {}}},
            versioned: {"get": {"parameters": params, "responses": {}}},
            versioned + "/ready": {"get": {"parameters": params, "responses": {}}},
            versioned + "/infer": {"post": {"parameters": params, "responses": {}}},
        },
    }
    signature = {"features": ["a"], "columns": {"a": {"kind": "numeric", "dtype": "float64"}}}
    paths = document(base, signature, "m", 3)["paths"]
    server = paths["/v2"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert server["$ref"].endswith("/V2ServerMetadata")
    for path, method in ((versioned, "get"), (versioned + "/ready", "get")):
        op = paths[path][method]
        assert [p["schema"]["enum"] for p in op["parameters"]] == [["m"], ["3"]]
        assert op["responses"]["404"]["content"]["application/json"]["schema"]["$ref"].endswith(
            "/V2Error"
        )
    infer = paths[versioned + "/infer"]["post"]
    assert infer["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/V2InferenceRequest"
    )
    assert {"200", "400", "404", "413", "415", "500", "503"} <= set(infer["responses"])


def _boolean_schemas(node: Any, where: str = "") -> Any:
    """The places in the document where a schema keyword holds ``true``/``false``."""
    keys = {"items", "additionalProperties", "not", "contains", "propertyNames", "if"}
    if isinstance(node, dict):
        for k, v in node.items():
            if k in keys and isinstance(v, bool) and k != "additionalProperties":
                yield f"{where}/{k}"
            yield from _boolean_schemas(v, f"{where}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _boolean_schemas(v, f"{where}/{i}")


TREND_ROW = {"age": 31.5, "color": "red", "n": 2}
CHURN_ROW = {"hours": 12.0, "plan": "pro", "flag": True}


def _tensors(row: dict[str, Any], datatypes: dict[str, str]) -> dict[str, Any]:
    return {
        "inputs": [
            {"name": k, "shape": [1], "datatype": datatypes[k], "data": [v]} for k, v in row.items()
        ]
    }


def test_several_models_each_have_their_own_documented_body(two_models) -> None:  # type: ignore[no-untyped-def]
    """With two models, each model's routes are paths of their own whose bodies are that
    model's: what the document allows at /predict/trend (and /v2/models/trend/infer) the
    server takes there, and another model's body it refuses, as the document says."""
    _, url = two_models
    doc = httpx.get(f"{url}/openapi.json").json()
    paths = doc["paths"]
    assert "/predict/{name}" not in paths and "/v2/models/{name}/infer" not in paths
    for name in ("trend", "churn"):
        for path in (
            f"/predict/{name}",
            f"/v2/models/{name}",
            f"/v2/models/{name}/ready",
            f"/v2/models/{name}/infer",
            f"/v2/models/{name}/versions/{{version}}/infer",
        ):
            assert path in paths, (path, list(paths))
    ids = [op["operationId"] for item in paths.values() for op in item.values()]
    assert len(ids) == len(set(ids)), ids
    v2_types = {
        "age": "FP64",
        "color": "BYTES",
        "n": "INT64",
        "hours": "FP64",
        "plan": "BYTES",
        "flag": "BOOL",
    }
    rows = {"trend": TREND_ROW, "churn": CHURN_ROW}
    bad = {"trend": {**TREND_ROW, "color": "green"}, "churn": {**CHURN_ROW, "plan": "gold"}}
    for name in ("trend", "churn"):
        predict = paths[f"/predict/{name}"]["post"]["requestBody"]["content"]["application/json"]
        infer = paths[f"/v2/models/{name}/infer"]["post"]["requestBody"]["content"]
        for given, row in rows.items():
            for body, fits in ((row, True), ({"records": [row, row]}, True), (bad[given], False)):
                documented = _valid(doc, predict["schema"], body)
                answer = httpx.post(f"{url}/predict/{name}", json=body)
                assert documented == (answer.status_code == 200), (name, body, answer.text)
                assert documented == (fits and given == name), (name, body)
            tensors = _tensors(row, v2_types)
            documented = _valid(doc, infer["application/json"]["schema"], tensors)
            answer = httpx.post(f"{url}/v2/models/{name}/infer", json=tensors)
            assert documented == (answer.status_code == 200) == (given == name), (
                name,
                given,
                answer.text,
            )
        version = paths[f"/v2/models/{name}/versions/{{version}}/infer"]["post"]["parameters"]
        assert [p["schema"]["enum"] for p in version] == [["1"]]
    # plain /predict says which to use
    r = httpx.post(f"{url}/predict", json=TREND_ROW)
    assert r.status_code == 409 and "/predict/trend" in r.json()["error"]["hint"]


@pytest.mark.parametrize("served", ["server", "two_models"])
def test_a_generated_client_calls_each_model(
    served: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """openapi-python-client generates a client from the document (one model, and two)
    with no warning (no endpoint or schema skipped), and each model's own predict function
    of that client, given that model's generated body class, is answered by that model."""
    import importlib

    _, url = request.getfixturevalue(served)
    spec = tmp_path / "openapi.json"
    spec.write_text(httpx.get(f"{url}/openapi.json").text)
    package = f"rung_generated_{served}"
    bin_dir = str(Path(sys.executable).parent)  # its post-generation hook runs ruff
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("openapi-python-client")),
            "generate",
            "--path",
            str(spec),
            "--output-path",
            str(tmp_path / package),
            "--meta",
            "none",
        ],
        cwd=tmp_path,
        env={**os.environ, "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")])},
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0 and "Warning" not in output, output[-8000:]
    sys.path.insert(0, str(tmp_path))
    try:
        client = importlib.import_module(package).Client(base_url=url)
        rows = {"trend": TREND_ROW, "churn": CHURN_ROW}
        names = ["trend", "churn"] if served == "two_models" else ["trend"]
        for name in names:
            op = f"predict_named_predict_name_post{'_' + name if len(names) > 1 else ''}"
            predict = importlib.import_module(f"{package}.api.default.{op}")
            suffix = name.capitalize() if len(names) > 1 else ""
            records = getattr(importlib.import_module(f"{package}.models"), f"Records{suffix}")
            body = records.from_dict({"records": [rows[name], rows[name]]})
            answer = predict.sync_detailed(client=client, body=body, **_name_arg(len(names), name))
            assert answer.status_code == 200, answer.content
            assert answer.parsed.model == name and len(answer.parsed.predictions) == 2
    finally:
        sys.path.remove(str(tmp_path))


def _name_arg(served: int, name: str) -> dict[str, Any]:
    """One model keeps the templated /predict/{name}: its function takes the name."""
    return {"name": name} if served == 1 else {}
