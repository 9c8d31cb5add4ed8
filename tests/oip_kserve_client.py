"""The KServe Python SDK against a running `rung serve` (model "clf", see test_oip_clients.py).

Run by tests/test_oip_clients.py with the python of the SDK's own virtual environment
(`make test` creates .venv-kserve: the SDK pins pandas below rung's). Usage:
``python oip_kserve_client.py URL``; prints one JSON line ``{"ok": [...], "failed": [...]}``.
The only setting changed from the SDK's defaults is the protocol (``RESTConfig`` defaults to
v1, which is not the Open Inference Protocol).
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig
from kserve.protocol.infer_type import RequestedOutput

ROWS = {
    "a": (np.array([2.0, -2.0, 0.5]), "FP64"),
    "n": (np.array([3, -4, 20], dtype=np.int64), "INT64"),
    "ok": (np.array([True, False, True]), "BOOL"),
    "color": (np.array(["red", "blue", "red"], dtype=object), "BYTES"),
}


def request(binary: bool = True, **kw: Any) -> InferRequest:
    inputs = []
    for name, (values, datatype) in ROWS.items():
        i = InferInput(name, list(values.shape), datatype)
        i.set_data_from_numpy(values, binary_data=binary)
        inputs.append(i)
    return InferRequest(model_name="clf", infer_inputs=inputs, **kw)


def check(response: Any, names: tuple[str, ...] = ("predict", "predict_proba")) -> None:
    assert [o.name for o in response.outputs] == list(names), response
    if "predict" in names:
        predict = response.get_output_by_name("predict").as_numpy()
        assert predict.dtype == np.int64 and predict.shape == (3,), predict
    if "predict_proba" in names:
        proba = response.get_output_by_name("predict_proba").as_numpy()
        assert proba.shape == (3, 2) and np.allclose(proba.sum(axis=1), 1), proba


async def main(url: str) -> dict[str, list[str]]:
    client = InferenceRESTClient(RESTConfig(protocol="v2"))
    ok: list[str] = []
    failed: list[str] = []

    async def run(name: str, call: Callable[[], Awaitable[Any]]) -> None:
        try:
            await call()
        except Exception as exc:
            failed.append(f"{name}: {type(exc).__name__}: {exc}")
        else:
            ok.append(name)

    async def is_true(call: Awaitable[Any]) -> None:
        assert await call is True

    async def infer(
        req: InferRequest, names: tuple[str, ...] = ("predict", "predict_proba")
    ) -> None:
        response = await client.infer(url, req, model_name="clf")
        check(response, names)
        assert response.id == req.id or req.id is None, (response.id, req.id)

    async def refused(call: Awaitable[Any], status: int, words: str) -> None:
        try:
            await call
        except httpx.HTTPStatusError as exc:
            assert exc.response.status_code == status, exc
            assert words in str(exc), str(exc)
        else:
            raise AssertionError("no error")

    async def as_dict() -> None:
        body = {
            "inputs": [
                {"name": k, "shape": [3], "datatype": t, "data": v.tolist()}
                for k, (v, t) in ROWS.items()
            ]
        }
        check(await client.infer(url, body, model_name="clf"))

    async def feedback_by_own_id() -> None:
        """The request's own id (InferRequest(request_id=...)) keys its labels later."""
        own = f"kserve-{uuid.uuid4().hex}"
        response = await client.infer(url, request(request_id=own), model_name="clf")
        assert response.id == own, response.id
        async with httpx.AsyncClient() as http:
            r = await http.post(
                f"{url}/feedback", json={"correlation_id": own, "labels": [0, 1, 0]}
            )
        assert r.status_code == 200 and r.json()["accepted"] == 3, r.text

    async def headers_back() -> None:
        got: dict[str, str] = {}
        await client.infer(url, request(), model_name="clf", response_headers=got)
        assert got["content-type"] == "application/json", got

    await run("is_server_live", lambda: is_true(client.is_server_live(url)))
    await run("is_server_ready", lambda: is_true(client.is_server_ready(url)))
    await run("is_model_ready", lambda: is_true(client.is_model_ready(url, "clf")))
    await run("is_model_ready(other)", lambda: refused_false(client.is_model_ready(url, "x")))
    await run("infer (binary)", lambda: infer(request()))
    await run("infer (JSON)", lambda: infer(request(binary=False)))
    await run("infer(request_id)", lambda: infer(request(request_id="kserve-42")))
    await run("infer(dict)", as_dict)
    await run("infer(request_id) then feedback by that id", feedback_by_own_id)
    await run("infer(response_headers)", headers_back)
    for binary in (True, False):
        await run(
            f"infer(request_outputs=[predict], binary_data={binary})",
            lambda b=binary: infer(  # type: ignore[misc]
                request(request_outputs=[RequestedOutput("predict", {"binary_data": b})]),
                ("predict",),
            ),
        )
    await run(
        "infer(parameters binary_data_output)",
        lambda: infer(request(parameters={"binary_data_output": True})),
    )
    await run(
        "infer(unknown output)",
        lambda: refused(
            client.infer(url, request(request_outputs=[RequestedOutput("p")]), model_name="clf"),
            400,
            "output 'p'",
        ),
    )
    await run(
        "infer(unknown model)",
        lambda: refused(client.infer(url, request(), model_name="x"), 404, "not 'x'"),
    )
    await client.close()
    ok.append("close")
    return {"ok": ok, "failed": failed}


async def refused_false(call: Awaitable[Any]) -> None:
    assert await call is False


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1]))))
