"""The pure rules behind `rung serve`'s protection, as properties: tokens (one module every
rung server shares) and the ``Host`` allowlist. The HTTP behaviour is tested against a real
server in test_serving_secure.py."""

from __future__ import annotations

import string
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from rung.core.tokens import SCOPES, Token, TokenSet, digest, make, parse, render
from rung.serving.auth import bearer, route_scope
from rung.serving.guards import host_allowed, is_json

NAMES = st.text(string.ascii_letters + string.digits + "._-", min_size=1, max_size=64)
SCOPE_SETS = st.sets(st.sampled_from(SCOPES), min_size=1)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(NAMES, SCOPE_SETS, min_size=1, max_size=6))
def test_a_token_file_reads_back_and_each_secret_finds_only_its_token(
    wanted: dict[str, set[str]],
) -> None:
    made = {name: make(name, scopes) for name, scopes in wanted.items()}
    stored = parse(render([t for _, t in made.values()]), "tokens")
    assert stored == [t for _, t in made.values()]
    tokens = TokenSet(stored)
    for name, (secret, token) in made.items():
        assert tokens.verify(secret) == token and token.name == name
        assert secret not in render(stored)  # only digests are stored
        for scope in SCOPES:
            assert token.allows(scope) == (scope in wanted[name] or "admin" in wanted[name])
        assert tokens.verify(secret[:-1]) is None and tokens.verify(secret + "x") is None


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300))
def test_no_other_text_verifies(presented: str) -> None:
    _, token = make("ci", ["predict"])
    assert TokenSet([token]).verify(presented) is None
    assert TokenSet().verify(presented) is None


def test_the_digest_is_sha256_of_the_token() -> None:
    import hashlib

    secret, token = make("ci", ["predict"])
    assert token.digest == "sha256:" + hashlib.sha256(secret.encode()).hexdigest()
    assert digest(secret) == token.digest and len(secret) == 48 and secret.startswith("rung_")
    assert len({make("x", ["admin"])[0] for _ in range(100)}) == 100


@given(st.text(max_size=60))
def test_bearer_reads_one_token_only(value: str) -> None:
    got = bearer(f"Bearer {value}")
    assert got is None or (got == value.strip() and " " not in got and got)
    assert bearer(f"Basic {value}") is None


def test_every_route_has_a_scope_and_health_is_open() -> None:
    assert route_scope("GET", "/v2/health/ready") is None
    assert route_scope("GET", "/v2/models/m/versions/1/ready") is None
    assert route_scope("POST", "/feedback") == "feedback"
    assert route_scope("GET", "/metrics") == "admin"
    for path in ("/predict", "/predict/m", "/v2", "/v2/models/m", "/v2/models/m/infer", "/x"):
        assert route_scope("POST", path) == "predict", path
    for path in ("/v2/health/ready/x", "/v2/models/m/ready/x", "/v2/models/a/b/ready"):
        assert route_scope("GET", path) == "predict", path  # no prefix match opens a route


HOSTS = st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,10}){0,3}", fullmatch=True)


@given(HOSTS, HOSTS, st.integers(1, 65535))
def test_the_host_allowlist_matches_names_not_prefixes_or_suffixes(
    allowed: str, other: str, port: int
) -> None:
    names = (allowed, "127.0.0.1", "::1")
    assert host_allowed(allowed, names) and host_allowed(f"{allowed}:{port}", names)
    assert host_allowed(f"{allowed}:", names) and host_allowed("[::1]:", names)  # empty port
    assert not host_allowed("::", names) and not host_allowed(f"{allowed}:x", names)
    assert host_allowed(f"{allowed.upper()}.", names) and host_allowed(f"[::1]:{port}", names)
    for attack in (f"{allowed}.{other}", f"{other}.{allowed}", f"{allowed}{other}", f"{allowed}@x"):
        assert not host_allowed(attack, names), attack
    assert not host_allowed(f"127.0.0.1.{other}", names) and not host_allowed(None, names)
    assert host_allowed(f"{other}.{allowed}", (f"*.{allowed}",))
    assert not host_allowed(allowed, (f"*.{allowed}",)) and host_allowed(other, ("*",))


def test_json_content_types() -> None:
    for good in ("application/json", "APPLICATION/JSON", "application/json; charset=utf-8"):
        assert is_json(good)
    for bad in (None, "", "text/plain", "application/jsonp", "application/json-seq", "json"):
        assert not is_json(bad)


def test_token_lines_keep_the_scope_order() -> None:
    token = Token("ci", frozenset({"admin", "predict"}), "sha256:" + "0" * 64)
    assert token.line() == "ci predict,admin sha256:" + "0" * 64


def test_the_default_host_allowlist() -> None:
    import socket

    from rung.serving.guards import default_hosts

    assert default_hosts("10.1.2.3", ["Models.Example"]) == (
        "10.1.2.3",
        "localhost",
        "127.0.0.1",
        "::1",
        "models.example",
    )
    wildcard = default_hosts("0.0.0.0")
    assert "0.0.0.0" not in wildcard and socket.gethostname().lower() in wildcard
    resolved = {str(i[4][0]) for i in socket.getaddrinfo(socket.gethostname(), None)}
    assert resolved <= set(wildcard)
    assert default_hosts("::1") == ("::1", "localhost", "127.0.0.1")


# a token file's successive states: which of three tokens it holds, or a fault
_FAULTS = ("missing", "malformed", "not utf-8", "a folder")
FILE_STATES = st.lists(
    st.one_of(st.sets(st.sampled_from(range(3))), st.sampled_from(_FAULTS)), max_size=12
)


@settings(max_examples=60, deadline=None)
@given(FILE_STATES)
def test_a_followed_token_file_accepts_what_it_holds_now_and_fails_closed(
    states: list[set[int] | str],
) -> None:
    """:class:`TokenFile` after each change of its file (and one read): a token is accepted
    exactly when the file now holds it; a file missing, malformed, not UTF-8 or not a file
    accepts none, and authentication stays on (``bool()``)."""
    import shutil
    import tempfile

    from rung.core.tokens import TokenFile, write_file

    made = [make(f"t{i}", ["predict"]) for i in range(3)]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "tokens"
        write_file(path, [t for _, t in made])
        followed = TokenFile(path)
        for state in [{0, 1, 2}, *states]:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
            if isinstance(state, set):
                write_file(path, [made[i][1] for i in sorted(state)])
            elif state == "malformed":
                path.write_text(made[0][1].line() + "\nbroken line\n")
            elif state == "not utf-8":
                path.write_bytes(b"\xff" + made[0][1].line().encode())
            elif state == "a folder":
                path.mkdir()
            followed.refresh()
            held = state if isinstance(state, set) else set()
            assert followed and len(followed.tokens) == len(held)
            for i, (secret, token) in enumerate(made):
                assert followed.verify(secret) == (token if i in held else None), (state, i)


def test_a_token_file_that_cannot_be_used_at_start_is_one_error(tmp_path: Path) -> None:
    import pytest

    from rung.core.tokens import BadTokenFile, TokenFile

    (tmp_path / "bad").write_text("x predict\n")
    (tmp_path / "dir").mkdir()
    for name, message in (("bad", "has 2 fields"), ("dir", "cannot read the token file")):
        with pytest.raises(BadTokenFile, match=message):
            TokenFile(tmp_path / name)
    assert not TokenFile(tmp_path / "missing").tokens  # none yet: every token refused


_URL_PIECES = st.sampled_from(
    [
        "127.0.0.1",
        "localhost",
        "evil.example",
        "[::1]",
        "[",
        "]",
        "@",
        ":",
        ":80",
        "%2f",
        ";",
        ".",
        "user",
        "#",
        "/",
        "?",
        "\\",
        "x",
        "::1",
        "0x7f000001",
    ]
)


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(["http", "HTTPS", "ftp", "ws", "file", "h2c", ""]),
    st.lists(_URL_PIECES, max_size=6).map("".join),
    st.sampled_from(["", "/", "/predict", "/v2/health/ready", "/a@b", "/x#y"]),
)
def test_the_host_of_an_absolute_target_is_the_one_a_url_parser_sees(
    scheme: str, authority: str, path: str
) -> None:
    """:func:`absolute_target` accepts only http(s) URLs without user information, and the
    host it returns (the one the allowlist checks) is the host Python's own URL parser
    (``urllib.parse.urlsplit``, RFC 3986) finds in the same target."""
    from urllib.parse import urlsplit

    import pytest

    from rung.core.errors import RungError
    from rung.serving.guards import BadTarget, absolute_target

    target = f"{scheme}://{authority}{path}"
    try:
        host, given, rest = absolute_target(target)
    except BadTarget as exc:
        assert isinstance(exc, RungError) and exc.status == 400
        return
    assert scheme.lower() in ("http", "https") and "@" not in given and host
    assert rest.startswith("/") and given in target
    try:
        seen = urlsplit(target).hostname
    except ValueError:  # a literal Python's parser refuses: ours must not be laxer there
        pytest.fail(f"{target!r} accepted, but urlsplit refuses it")
    assert seen is not None and seen.rstrip(".") == host, (target, seen, host)
