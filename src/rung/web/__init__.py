"""``rung ui``: the workspace in a browser — why each model is serving, and the evidence
behind it (runs, comparison, lineage, datasets, evaluations, the registry, monitoring and
automation).

One FastAPI app (:func:`rung.web.app.create_app`) over one :class:`rung.workspace.Workspace`:
a JSON API under ``/api/`` (documented in ``/openapi.json``) and server-rendered Jinja2 pages
made from the same functions, one module per area (``runs``, ``lineage``, …), each holding its
API routes and its pages. Tokens and scopes are ``rung serve``'s (:mod:`rung.core.tokens`,
:mod:`rung.serving.auth`): reading needs ``read``, actions ``admin``; see docs/ui.md.
"""
