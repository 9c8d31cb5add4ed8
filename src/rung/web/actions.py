"""The actions of ``rung ui``: ``POST /api/models/{name}/promote``, ``/rollback`` and
``/approve`` — the three ways a person moves an alias, each calling exactly the method the
CLI calls, so each passes the registry's one gate (:meth:`rung.registry.models.Registry._move`):

* ``promote`` — :meth:`Registry.promote` (``rung model promote NAME VERSION``);
* ``rollback`` — :meth:`Registry.rollback` (``rung model rollback NAME``);
* ``approve`` — :meth:`Automation.approve <rung.automation.loop.Automation.approve>` of the
  model's loop (``rung model approve NAME VERSION``): a challenger the manual policy left
  waiting is identified, as at the CLI, by its model and version.

A refusal of the gate is its own error at its own status (409 :class:`RefusedPromotion`, 404
for no such waiting challenger, 422 for a bad alias) in the canonical body, with the gate's
message; nothing moves.

**Who may act** is decided in one place, :func:`admin_only`, a dependency of every action:
an ``admin`` token (the ``Authorization`` header or the sign-in cookie). The token check
(:class:`rung.serving.auth.Authorize`) already refuses any other token (``ui_scope`` asks
``admin`` of every POST), but it lets everything through when the server has no tokens —
so without tokens every action is refused here (403): the UI is read-only. Forms post from
the app's own pages; :class:`rung.web.app.SameOrigin` and the cookie's SameSite=Strict refuse
a post from another site.

Every action requires a reason (the CLI asks one only with ``--force``), recorded as given;
the event's ``who`` (and an approval's ``by``) is the token that acted, ``NAME (rung ui)`` —
not the server's user, who acts for every token.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field

from rung.serving.auth import Forbidden
from rung.web.render import ApiJSON, can_act, workspace

router = APIRouter()

NameP = Annotated[str, Path(max_length=200, description="The model's name.")]
REASON = Field(
    min_length=1,
    max_length=2000,
    pattern=r"\S",
    description="Why: recorded in the alias event (and the job, for an approval).",
)
FORCE = Field(
    default=False,
    description="Move despite a failed or missing verdict, the loop's rejection or stale"
    " evidence, as the CLI's --force does; recorded as forced.",
)


def admin_only(request: Request) -> str:
    """The name of the request's ``admin`` token; :class:`Forbidden` (403) otherwise — also,
    and first, when the server has no tokens at all (then the UI is read-only)."""
    if not request.app.state.protection.tokens:
        raise Forbidden(
            "actions are off: this rung ui has no tokens, so it is read-only",
            "configure tokens: rung token create NAME --scope admin, then restart rung ui"
            " and sign in with it",
        )
    if not can_act(request):
        raise Forbidden(
            "only an admin token may promote, roll back or approve",
            "sign in with a token made by rung token create NAME --scope admin",
        )
    return str((request.scope.get("state") or {}).get("token"))


Admin = Annotated[str, Depends(admin_only)]


class Promote(BaseModel):
    """``rung model promote NAME VERSION --alias ALIAS --reason REASON [--force]``."""

    version: int = Field(ge=1, le=2**62, description="The version to point the alias at.")
    alias: str = Field(default="champion", max_length=200, description="The alias to move.")
    reason: str = REASON
    force: bool = FORCE


class Rollback(BaseModel):
    """``rung model rollback NAME --alias ALIAS --reason REASON [--force]``."""

    alias: str = Field(default="champion", max_length=200, description="The alias to move back.")
    reason: str = REASON
    force: bool = FORCE


class Approve(BaseModel):
    """``rung model approve NAME VERSION --reason REASON [--force]``."""

    version: int = Field(ge=1, le=2**62, description="The waiting challenger's version.")
    reason: str = REASON
    force: bool = FORCE


def _who(token: str) -> str:
    """Who acts, in the alias event and the job: the token's name."""
    return f"{token} (rung ui)"


@router.post("/api/models/{name}/promote", response_class=ApiJSON, tags=["actions"])
def promote(request: Request, name: NameP, body: Promote, token: Admin) -> Any:
    """Point ``alias`` at ``version`` through the registry's gate, as ``rung model promote``
    does: refused (409, the gate's message) unless the version's verdict against the
    project's acceptance criteria passed and the automation did not reject it, or ``force``.
    Admin tokens only. Answers the alias event."""
    event = workspace(request).models.promote(
        name,
        body.version,
        body.alias,
        force=body.force,
        reason=body.reason.strip(),
        who=_who(token),
    )
    return ApiJSON({"event": event})


@router.post("/api/models/{name}/rollback", response_class=ApiJSON, tags=["actions"])
def rollback(request: Request, name: NameP, body: Rollback, token: Admin) -> Any:
    """Move ``alias`` back to the version it pointed at before its last move, as ``rung
    model rollback`` does, through the same gate. Admin tokens only. Answers the event."""
    event = workspace(request).models.rollback(
        name, body.alias, body.reason.strip(), force=body.force, who=_who(token)
    )
    return ApiJSON({"event": event})


@router.post("/api/models/{name}/approve", response_class=ApiJSON, tags=["actions"])
def approve(request: Request, name: NameP, body: Approve, token: Admin) -> Any:
    """Promote challenger ``version`` that the manual policy left waiting, as ``rung model
    approve`` does (the loop's approval, then the registry's gate); 404 when no such
    challenger waits, 409 when its evidence is stale. Admin tokens only. Answers the job."""
    ws = workspace(request)
    job = ws.automation_of(name).approve(
        name, body.version, force=body.force, reason=body.reason.strip(), who=_who(token)
    )
    return ApiJSON({"job": job})
