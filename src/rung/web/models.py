"""The models page of ``rung ui``: not built yet (issue 13)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from rung.web.render import page

router = APIRouter()


@router.get("/models", response_class=HTMLResponse, include_in_schema=False)
def models_page(request: Request) -> HTMLResponse:
    return page(request, "todo.html", title="Models")
