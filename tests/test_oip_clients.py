"""The Open Inference Protocol v2 as its official clients use it, with their default settings,
against a real `rung serve` on 127.0.0.1: tritonclient[http] (sync and asyncio) and the KServe
Python SDK (run in its own virtual environment: its pins conflict with rung's pandas).

One server (module scope) serves every test here: a classifier with integer classes over an
int64, a float, a boolean and a categorical feature.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import textwrap
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import start_server

pytestmark = pytest.mark.xdist_group("oip")  # one worker, one server

TRAIN = textwrap.dedent(
    """
    import rung
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    @rung.step
    def fit(frame):
        prep = make_column_transformer((OneHotEncoder(), ["color"]), remainder="passthrough")
        x = frame[["a", "n", "ok", "color"]]
        return make_pipeline(prep, LogisticRegression()).fit(x, frame["y"])

    @rung.pipeline
    def train():
        return fit(rung.dataset("train"))
    """
)
ROWS = {
    "a": np.array([2.0, -2.0, 0.5]),
    "n": np.array([3, -4, 20], dtype=np.int64),
    "ok": np.array([True, False, True]),
    "color": np.array(["red", "blue", "red"], dtype=object),
}
DATATYPES = {"a": "FP64", "n": "INT64", "ok": "BOOL", "color": "BYTES"}


def _frame(n: int) -> pd.DataFrame:
    r = np.random.default_rng(5)
    a = r.normal(0, 1, n)
    k = r.integers(-5, 30, n).astype("int64")
    ok = r.random(n) > 0.5
    color = r.choice(["red", "blue"], n)
    y = (a + (color == "red") + 0.1 * k + r.normal(0, 0.5, n) > 1).astype("int64")
    return pd.DataFrame({"a": a, "n": k, "ok": ok, "color": color, "y": y})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from rung import Workspace

    root = tmp_path_factory.mktemp("oip") / "ws"
    with Workspace.init(root) as ws:
        (ws.root / "train.py").write_text(TRAIN)
        ws.data.add(_frame(300), name="train")
        run = ws.run("train.py:train")
        ws.models.register(str(run.id), "clf")
        ws.models.promote("clf", 1, force=True, reason="test")
    proc, url = start_server(root, "clf@champion")
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


class Calls:
    """Each call of a client's surface, run once, with what failed (counted in the report)."""

    def __init__(self) -> None:
        self.ok: list[str] = []
        self.failed: list[str] = []

    def run(self, name: str, call: Callable[[], Any]) -> None:
        try:
            call()
        except Exception as exc:  # the client's own exception, an assertion: a failed call
            self.failed.append(f"{name}: {type(exc).__name__}: {exc}")
        else:
            self.ok.append(name)


def _triton_inputs(http: Any, binary: bool) -> list[Any]:
    out = []
    for name, values in ROWS.items():
        i = http.InferInput(name, list(values.shape), DATATYPES[name])
        i.set_data_from_numpy(values, binary_data=binary)
        out.append(i)
    return out


def _check_result(result: Any, outputs: tuple[str, ...] = ("predict", "predict_proba")) -> None:
    names = [o["name"] for o in result.get_response()["outputs"]]
    assert names == list(outputs), names
    if "predict" in outputs:
        predict = result.as_numpy("predict")
        assert predict.dtype == np.int64 and predict.shape == (3,), predict
        assert set(predict.tolist()) <= {0, 1}
    if "predict_proba" in outputs:
        proba = result.as_numpy("predict_proba")
        assert proba.dtype == np.float64 and proba.shape == (3, 2)
        assert np.allclose(proba.sum(axis=1), 1.0)


def test_tritonclient_http_with_its_defaults(server: str) -> None:
    import tritonclient.http as http
    from tritonclient.utils import InferenceServerException

    client = http.InferenceServerClient(server.removeprefix("http://"))
    calls = Calls()

    def server_metadata() -> None:
        meta = client.get_server_metadata()
        assert meta["name"] == "rung" and "binary_tensor_data" in meta["extensions"]

    def model_metadata(version: str = "") -> None:
        meta = client.get_model_metadata("clf", model_version=version)
        assert meta["versions"] == ["1"]
        assert {i["name"]: i["datatype"] for i in meta["inputs"]} == DATATYPES
        assert meta["outputs"] == [
            {"name": "predict", "datatype": "INT64", "shape": [-1]},
            {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 2]},
        ]

    def infer(**kw: Any) -> None:
        binary = kw.pop("binary", True)
        outputs = kw.pop("expect", ("predict", "predict_proba"))
        result = client.infer("clf", _triton_inputs(http, binary), **kw)
        _check_result(result, outputs)

    def with_id() -> None:
        result = client.infer("clf", _triton_inputs(http, True), request_id="abc-1")
        assert result.get_response()["id"] == "abc-1"

    def refused(call: Callable[[], Any], status: str, words: str) -> Callable[[], None]:
        def run() -> None:
            try:
                call()
            except InferenceServerException as exc:
                assert exc.status() == status, (exc.status(), exc.message())
                assert isinstance(exc.message(), str) and words in exc.message(), exc.message()
            else:
                raise AssertionError("no error")

        return run

    def unknown_output() -> None:
        client.infer("clf", _triton_inputs(http, True), outputs=[http.InferRequestedOutput("p")])

    def generated_body() -> None:
        body, size = client.generate_request_body(_triton_inputs(http, True))
        r = httpx.post(
            f"{server}/v2/models/clf/infer",
            content=body,
            headers={"Inference-Header-Content-Length": str(size)},
        )
        result = client.parse_response_body(
            r.content, header_length=int(r.headers["Inference-Header-Content-Length"])
        )
        _check_result(result)

    calls.run("is_server_live", lambda: client.is_server_live() or 1 / 0)
    calls.run("is_server_ready", lambda: client.is_server_ready() or 1 / 0)
    calls.run("is_model_ready", lambda: client.is_model_ready("clf") or 1 / 0)
    calls.run("is_model_ready(version)", lambda: client.is_model_ready("clf", "1") or 1 / 0)
    calls.run(
        "is_model_ready(other version)", lambda: not client.is_model_ready("clf", "9") or 1 / 0
    )
    calls.run("is_model_ready(other model)", lambda: not client.is_model_ready("x") or 1 / 0)
    calls.run("get_server_metadata", server_metadata)
    calls.run("get_model_metadata", model_metadata)
    calls.run("get_model_metadata(version)", lambda: model_metadata("1"))
    calls.run(
        "get_model_metadata(other version)",
        refused(lambda: client.get_model_metadata("clf", "2"), "404", "version '2'"),
    )
    calls.run(
        "get_model_metadata(other model)",
        refused(lambda: client.get_model_metadata("x"), "404", "not 'x'"),
    )
    calls.run(
        "get_model_config (Triton's extension, not offered)",
        refused(lambda: client.get_model_config("clf"), "404", "Not Found"),
    )
    calls.run("infer (binary)", infer)
    calls.run("infer (JSON)", lambda: infer(binary=False))
    calls.run("infer(model_version)", lambda: infer(model_version="1"))
    calls.run(
        "infer(other version)",
        refused(lambda: infer(model_version="7"), "404", "version '7'"),
    )
    calls.run("infer(request_id)", with_id)
    for algorithm in ("gzip", "deflate"):
        calls.run(
            f"infer(request_compression_algorithm={algorithm})",
            lambda a=algorithm: infer(request_compression_algorithm=a),  # type: ignore[misc]
        )
        calls.run(
            f"infer(response_compression_algorithm={algorithm})",
            lambda a=algorithm: infer(response_compression_algorithm=a),  # type: ignore[misc]
        )
    for binary in (True, False):
        calls.run(
            f"infer(outputs=[predict], binary_data={binary})",
            lambda b=binary: infer(  # type: ignore[misc]
                outputs=[http.InferRequestedOutput("predict", binary_data=b)],
                expect=("predict",),
            ),
        )
    calls.run(
        "infer(outputs=[predict_proba, predict])",
        lambda: infer(
            outputs=[
                http.InferRequestedOutput("predict_proba"),
                http.InferRequestedOutput("predict"),
            ],
            expect=("predict_proba", "predict"),
        ),
    )
    calls.run("infer(unknown output)", refused(unknown_output, "400", "output 'p'"))
    calls.run(
        "infer(unknown model)",
        refused(lambda: client.infer("x", _triton_inputs(http, True)), "404", "not 'x'"),
    )
    calls.run("infer(parameters)", lambda: infer(parameters={"note": "a custom parameter"}))
    calls.run("infer(priority, timeout)", lambda: infer(priority=1, timeout=1000))
    calls.run(
        "async_infer",
        lambda: _check_result(client.async_infer("clf", _triton_inputs(http, True)).get_result()),
    )
    calls.run("generate_request_body + parse_response_body", generated_body)
    calls.run(
        "InferResult.get_output",
        lambda: (
            client.infer("clf", _triton_inputs(http, False)).get_output("predict")["datatype"]
            == "INT64"
            or 1 / 0
        ),
    )
    client.close()
    calls.ok += _triton_aio(server)
    print(f"tritonclient[http]: {len(calls.ok)} of {len(calls.ok) + len(calls.failed)} calls")
    assert calls.failed == [], calls.failed


def _triton_aio(server: str) -> list[str]:
    """The asyncio client's calls (each asserted: a failure fails the test)."""
    import asyncio

    import tritonclient.http.aio as aio

    async def run() -> list[str]:
        client = aio.InferenceServerClient(server.removeprefix("http://"))
        try:
            assert await client.is_server_live() and await client.is_server_ready()
            assert await client.is_model_ready("clf", "1")
            assert (await client.get_server_metadata())["name"] == "rung"
            assert (await client.get_model_metadata("clf"))["versions"] == ["1"]
            inputs = _triton_inputs(aio, True)
            _check_result(await client.infer("clf", inputs, request_compression_algorithm="gzip"))
        finally:
            await client.close()
        return [f"aio.{c}" for c in ("is_server_live", "is_server_ready", "is_model_ready")] + [
            "aio.get_server_metadata",
            "aio.get_model_metadata",
            "aio.infer",
        ]

    return asyncio.run(run())


KSERVE_SCRIPT = Path(__file__).with_name("oip_kserve_client.py")


def _kserve_python() -> str:
    """The KServe SDK's virtual environment (made by `make test`; its dependencies pin pandas
    below rung's)."""
    given = os.environ.get("RUNG_KSERVE_PYTHON")
    if given:
        assert Path(given).exists(), f"RUNG_KSERVE_PYTHON={given} does not exist"
        return given
    default = Path(__file__).resolve().parents[1] / ".venv-kserve" / "bin" / "python"
    if not default.exists():
        pytest.skip("no KServe SDK venv: `make test` creates .venv-kserve")
    return str(default)


def test_kserve_sdk_with_its_defaults(server: str) -> None:
    done = subprocess.run(
        [_kserve_python(), str(KSERVE_SCRIPT), server],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"KServe SDK: {len(report['ok'])} of {len(report['ok']) + len(report['failed'])} calls")
    assert report["failed"] == [] and len(report["ok"]) >= 10, report


def _post(server: str, body: Any, path: str = "/v2/models/clf/infer", **kw: Any) -> httpx.Response:
    return httpx.post(f"{server}{path}", json=body, **kw)


def _request(**change: Any) -> dict[str, Any]:
    inputs = [
        {"name": k, "shape": [3], "datatype": DATATYPES[k], "data": v.tolist()}
        for k, v in ROWS.items()
    ]
    return {"inputs": inputs, **change}


def test_protocol_errors_are_400_or_404_in_the_protocols_shape(server: str) -> None:
    cases: list[tuple[dict[str, Any], str]] = []
    for i, (key, value) in enumerate(
        [
            ("shape", [5]),
            ("datatype", "NOT_A_TYPE"),
            ("shape", [3, 2]),
            ("data", [1, 2]),
            ("shape", "3"),
        ]
    ):
        body = _request()
        body["inputs"][i % 4][key] = value
        cases.append((body, repr(body["inputs"][i % 4]["name"])))
    body = _request()
    body["inputs"][1]["data"] = [3, 20.7, 1]
    cases.append((body, "'n'"))  # an INT64 holding 20.7
    body = _request()
    body["inputs"].append(dict(body["inputs"][0]))
    cases.append((body, "'a' is given twice"))
    body = _request()
    del body["inputs"][3]
    cases.append((body, "'color' is missing"))
    body = _request()
    body["inputs"][3]["name"] = "colour"
    cases.append((body, "did you mean 'color'"))
    cases.append((_request(outputs=[{"name": "predict_probability"}]), "'predict_probability'"))
    cases.append((_request(inputs=[]), "'inputs'"))
    body = _request()
    body["inputs"][3]["data"] = ["red", "green", "red"]  # a category the model never saw
    cases.append((body, "color"))
    for body, words in cases:
        r = _post(server, body)
        assert r.status_code == 400, (body, r.text)
        got = r.json()
        assert isinstance(got["error"], str) and words in got["error"], (words, got)
        assert set(got["detail"]) == {"type", "message", "hint", "fields"}
        assert got["error"].startswith(got["detail"]["message"])
    for path in ("/v2/models/x", "/v2/models/clf/versions/2", "/v2/models/clf/versions/2/ready"):
        r = httpx.get(f"{server}{path}")
        assert r.status_code == 404 and isinstance(r.json()["error"], str), r.text
    for raw, status in ((b"not json", 400), (b"[]", 400)):
        assert httpx.post(f"{server}/v2/models/clf/infer", content=raw).status_code == status
    # rung's own routes keep the canonical object, and 422
    r = httpx.post(f"{server}/predict", json={"records": [{"a": "x"}]})
    assert r.status_code == 422 and set(r.json()["error"]) == {"type", "message", "hint", "fields"}


def test_nested_data_id_and_requested_outputs(server: str) -> None:
    body = _request(id="my-request-7", outputs=[{"name": "predict"}])
    for k in ("a", "n", "ok", "color"):
        i = next(x for x in body["inputs"] if x["name"] == k)
        i["shape"], i["data"] = [3, 1], [[v] for v in i["data"]]
    r = _post(server, body)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["id"] == "my-request-7" and got["model_version"] == "1"
    assert [o["name"] for o in got["outputs"]] == ["predict"]
    assert got["outputs"][0]["datatype"] == "INT64"
    assert all(isinstance(v, int) for v in got["outputs"][0]["data"])
    # binary_data_output for all outputs, overridden by one output's binary_data
    body = _request(
        parameters={"binary_data_output": True},
        outputs=[
            {"name": "predict", "parameters": {"binary_data": False}},
            {"name": "predict_proba"},
        ],
    )
    r = _post(server, body)
    n = int(r.headers["Inference-Header-Content-Length"])
    head = json.loads(r.content[:n])
    assert head["outputs"][0]["data"] and "data" not in head["outputs"][1]
    assert head["outputs"][1]["parameters"] == {"binary_data_size": 3 * 2 * 8}
    proba = np.frombuffer(r.content[n:], dtype="<f8").reshape(3, 2)
    assert np.allclose(proba.sum(axis=1), 1)


GZIP_JSON = {"Content-Encoding": "gzip", "Content-Type": "application/json"}


def test_compressed_bodies_count_against_the_limit(server: str) -> None:
    raw = json.dumps(_request()).encode()
    for coding, packed in (("gzip", gzip.compress(raw)), ("deflate", zlib.compress(raw))):
        r = httpx.post(
            f"{server}/v2/models/clf/infer", content=packed, headers={"Content-Encoding": coding}
        )
        assert r.status_code == 200, (coding, r.text)
    bomb = gzip.compress(b" " * (64 * 1024 * 1024))  # 64 MiB of spaces in ~64 KiB
    assert len(bomb) < 200_000
    for path in ("/v2/models/clf/infer", "/predict"):
        r = httpx.post(f"{server}{path}", content=bomb, headers=GZIP_JSON)
        assert r.status_code == 413, r.text
    r = httpx.post(f"{server}/predict", content=b"xx", headers=GZIP_JSON)
    assert r.status_code == 422 and "gzip" in r.json()["error"]["message"]
    r = httpx.post(f"{server}/v2/models/clf/infer", content=raw, headers={"Content-Encoding": "br"})
    assert r.status_code == 415 and "'br'" in r.json()["error"]


def test_a_body_naming_another_model_or_version_is_refused(server: str) -> None:
    """The KServe SDK sends model_name (and model_version) in the body: one that names
    another model or version than the path is a 400, never answered by this one."""
    for change, path in (
        ({"model_name": "other"}, "/v2/models/clf/infer"),
        ({"model_version": "7"}, "/v2/models/clf/infer"),
        ({"model_version": "7"}, "/v2/models/clf/versions/1/infer"),
    ):
        r = _post(server, _request(**change), path)
        assert r.status_code == 400 and "of this path" in r.json()["error"], (change, r.text)
    for same in ({"model_name": "clf"}, {"model_version": "1"}, {"model_version": None}):
        assert _post(server, _request(**same)).status_code == 200, same


def test_an_unsupported_coding_says_which_are(server: str) -> None:
    raw = json.dumps(_request()).encode()
    r = httpx.post(
        f"{server}/v2/models/clf/infer",
        content=raw,
        headers={"Content-Encoding": "br", "Content-Type": "application/json"},
    )
    assert r.status_code == 415 and r.headers["accept-encoding"] == "gzip, deflate"


# the words of rung's own /predict bodies, which a v2 client never sent
V1_WORDS = re.compile(r"\b(columns?|records?|features?)\b|/predict", re.IGNORECASE)


def _speaks_tensors(r: httpx.Response, case: Any) -> None:
    """A refused v2 request's answer names inputs, data, shape and datatype: no word of
    /predict's bodies in its message, its hint or its fields' locations."""
    assert r.status_code in (400, 404, 413, 415), (case, r.status_code, r.text)
    got = r.json()
    text = json.dumps(got)
    assert not V1_WORDS.search(text), (case, got)


def _bad_v2_requests() -> list[tuple[str, Any]]:
    """A family of bad requests: every input given each kind of bad value (of its datatype's
    type but not the feature's, not of its datatype, null, too large), several bad values at
    once, rows that differ between inputs, no rows, and each malformed part of a request."""
    cases: list[tuple[str, Any]] = []
    wrong = {
        "a": [("FP64", [1e300, 2.0, 3.0]), ("BYTES", ["x", "y", "z"]), ("FP64", [None, 1, 2])],
        "n": [("INT64", [1, 2**63, 3]), ("FP64", [1.5, 2.5, 3.5]), ("BOOL", [True, False, True])],
        "ok": [("INT64", [1, 0, 1]), ("BYTES", ["yes", "no", "yes"]), ("BOOL", [1, 0, 1])],
        "color": [("BYTES", ["green", "pink", "red"]), ("FP64", [1.0, 2.0, 3.0])],
    }
    for k, (name, _) in enumerate(ROWS.items()):
        for datatype, data in wrong[name]:
            body = _request()
            body["inputs"][k].update(datatype=datatype, data=data)
            cases.append((f"{name} as {datatype} {data}", body))
        body = _request()
        body["inputs"][k].update(shape=[2], data=body["inputs"][k]["data"][:2])
        cases.append((f"{name} with 2 rows of 3", body))
        for key, value in (("shape", [3, 2]), ("shape", [-1]), ("datatype", "FP99"), ("data", 3)):
            body = _request()
            body["inputs"][k][key] = value
            cases.append((f"{name} {key}={value}", body))
        body = _request()
        body["inputs"][k]["name"] = name + "x"
        cases.append((f"{name} misnamed", body))
        body = _request()
        del body["inputs"][k]
        cases.append((f"{name} missing", body))
    empty = _request()
    for i in empty["inputs"]:
        i.update(shape=[0], data=[])
    cases += [
        ("no rows", empty),
        ("no inputs", _request(inputs=[])),
        ("inputs not a list", _request(inputs={"a": [1]})),
        ("an unknown field", _request(recordz=[])),
        ("id too long", _request(id="x" * 65)),
        ("id not text", _request(id=7)),
        ("id with a newline", _request(id="a\nb")),
        ("unknown output", _request(outputs=[{"name": "proba"}])),
        ("outputs not a list", _request(outputs="predict")),
        ("bad parameters", _request(parameters=[1])),
        ("another model", _request(model_name="other")),
        ("a list", []),
        ("not an object", "columns"),
    ]
    return cases


def test_v2_errors_speak_tensor_terms(server: str) -> None:
    for case, body in _bad_v2_requests():
        _speaks_tensors(_post(server, body), case)
    # several bad values: each named, as the protocol names them
    body = _request()
    body["inputs"][3]["data"] = ["green", "pink", "red"]
    body["inputs"][0]["data"] = [1e300, 1.0, 1e301]
    error = _post(server, body).json()["error"]
    assert error.startswith("input 'a' index 0: 1e+300 is outside the range"), error
    assert "(and 3 more: input 'a' index 2, input 'color' index 0, input 'color' index 1)" in (
        error
    ), error
    uneven = _request()
    uneven["inputs"][2].update(shape=[2], data=[True, False])
    error = _post(server, uneven).json()["error"]
    assert "the inputs hold different numbers of rows [2, 3]" in error, error
    # /predict keeps its own words, and names every further bad field too
    r = httpx.post(
        f"{server}/predict",
        json={"records": [{**_record(), "a": "x"}, {**_record(), "a": "y", "color": "pink"}]},
    )
    assert r.status_code == 422
    message = r.json()["error"]["message"]
    assert message.startswith("invalid input at records.0.a: expected a number"), message
    assert "(and 2 more: records.1.a, records.1.color)" in message, message


def _record() -> dict[str, Any]:
    return {name: values.tolist()[0] for name, values in ROWS.items()}


def tensors_datatypes() -> list[str]:
    from rung.serving.tensors import DTYPES

    return list(DTYPES)


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=4),
)
DATATYPE = st.sampled_from([*tensors_datatypes(), "FP99", ""])


@st.composite
def v2_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """Requests of the model's inputs (some dropped, renamed or sent twice), each of any
    datatype, shape and values."""
    inputs = []
    for name in draw(st.lists(st.sampled_from([*ROWS, "colr"]), min_size=1, max_size=5)):
        data = draw(st.lists(SCALARS, max_size=4))
        if draw(st.booleans()):
            data = [[v] for v in data]
        shape = draw(
            st.one_of(
                st.just([len(data)]),
                st.just([len(data), 1]),
                st.lists(st.integers(min_value=-1, max_value=5), max_size=3),
            )
        )
        inputs.append({"name": name, "datatype": draw(DATATYPE), "shape": shape, "data": data})
    return {"inputs": inputs}


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(body=v2_bodies())
def test_any_v2_request_is_answered_or_refused_in_tensor_terms(server: str, body: Any) -> None:
    r = _post(server, body)
    if r.status_code != 200:
        _speaks_tensors(r, body)
