"""API tokens with scopes: the one module every rung server shares (``rung serve`` and
``rung ui``; the team server later). Pure logic: scopes, making a token, hashing it, verifying a
presented token in constant time, and the token file's text. The HTTP side (the
``Authorization: Bearer`` header, 401/403) is :mod:`rung.serving.auth`.

**Scopes.** ``read`` (``rung ui``'s pages and its ``/api/``: runs, data, evaluations, the
registry, monitoring, automation — read only), ``predict`` (predictions and what describes
them), ``feedback`` (labels, which drive live accuracy, alerts and automation), ``admin``
(everything: ``/metrics``, and ``rung ui``'s actions — approve, promote, roll back).
``admin`` implies the other three.

**Tokens** are ``rung_`` followed by 43 URL-safe characters: 32 bytes (256 bits) from
:mod:`secrets`. A token is shown once, when it is made, and only its hash is stored.

**Why SHA-256 and not a password hash** (bcrypt, scrypt, argon2): those are slow on purpose
because passwords are guessable, so an attacker who steals the hashes tries likely passwords.
A 256-bit random token cannot be guessed: one SHA-256 of it is as hard to invert as the token
is to guess (2^256 tries), and a fast hash keeps the check per request cheap: the usual
choice for high-entropy API tokens (OWASP's password-storage advice is for low-entropy
secrets). A stolen token file gives no token. The stored digest is compared with :func:`hmac.compare_digest`, so the time a check takes does not
depend on how many leading characters of a wrong token's digest match.

**The token file** (``.rung/tokens`` in a workspace, ``rung serve --tokens FILE``, or the
text of ``RUNG_SERVE_TOKENS``) holds one token per line::

    # NAME SCOPES DIGEST
    ci-bot predict,feedback sha256:5f4dcc3b5aa765d61d8327deb882cf99...

Blank lines and lines starting with ``#`` are ignored. Names are 1-64 characters of
``A-Za-z0-9._-``; each name appears once.

**A running server follows its token file** (:class:`TokenFile`): the accepted tokens are
held in memory (a request reads no file), and a background thread reads the file again every
:data:`REFRESH_SECONDS` (1 s), so a token revoked (``rung token revoke``, or its line
removed by hand) is refused, and a token created is accepted, at most that long after the
file changed, without a restart. Tokens given as text (``RUNG_SERVE_TOKENS``) are a fixed
:class:`TokenSet`: a process's environment cannot change while it runs.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rung.core.errors import InvalidInput

SCOPES = ("read", "predict", "feedback", "admin")
"""Every scope, in the order they are listed."""
PREFIX = "rung_"
"""Every token starts with it, so a leaked one is recognisable (secret scanners)."""
_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
MAX_TOKEN = 256
"""The longest presented token read (longer: unknown, without hashing it)."""


class BadTokenFile(InvalidInput):
    """The token file (or ``RUNG_SERVE_TOKENS``) is not in the one format; names the line."""


@dataclass(frozen=True)
class Token:
    """One stored token: its ``name``, its ``scopes`` and the ``digest`` of its secret."""

    name: str
    scopes: frozenset[str]
    digest: str

    def allows(self, scope: str) -> bool:
        """True if this token may use a route needing ``scope`` (``admin`` allows all)."""
        return scope in self.scopes or "admin" in self.scopes

    def line(self) -> str:
        """This token as one line of the token file."""
        scopes = ",".join(s for s in SCOPES if s in self.scopes)
        return f"{self.name} {scopes} {self.digest}"


def new_token() -> str:
    """A fresh secret token: ``rung_`` and 32 random bytes, URL-safe base64 (43 chars)."""
    return PREFIX + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    """The stored form of ``token``: ``sha256:`` and its hex SHA-256 (of its UTF-8 bytes)."""
    return "sha256:" + hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def check_name(name: str) -> str:
    """``name`` if it is a valid token name; raises :class:`InvalidInput` otherwise."""
    if not _NAME.fullmatch(name):
        raise InvalidInput(
            f"token name {name[:80]!r} is not 1-64 characters of letters, digits, '.', '_', '-'",
            "choose a name such as ci-bot or team.web",
        )
    return name


def check_scopes(scopes: Iterable[str]) -> frozenset[str]:
    """The scopes as a set; raises :class:`InvalidInput` naming an unknown or missing one."""
    chosen = frozenset(scopes)
    unknown = sorted(chosen - set(SCOPES))
    if unknown:
        raise InvalidInput(f"unknown token scope {unknown[0]!r}", f"scopes are {', '.join(SCOPES)}")
    if not chosen:
        raise InvalidInput(
            "a token needs at least one scope", f"give --scope {SCOPES[0]} (or more)"
        )
    return chosen


def make(name: str, scopes: Iterable[str]) -> tuple[str, Token]:
    """A new token named ``name`` with ``scopes``: the secret (show it once) and what to store."""
    secret = new_token()
    return secret, Token(check_name(name), check_scopes(scopes), digest(secret))


def parse(text: str, where: str) -> list[Token]:
    """The tokens of a token file's ``text``; ``where`` names it in errors.

    Raises :class:`BadTokenFile` naming the line number and what is wrong (never echoing a
    digest or a secret pasted by mistake)."""
    tokens: list[Token] = []
    seen: set[str] = set()
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        hint = "each line is NAME SCOPE[,SCOPE] sha256:HEX, as `rung token create` writes"
        if len(parts) != 3:
            raise BadTokenFile(f"{where} line {n} has {len(parts)} fields, not 3", hint)
        name, scopes, stored = parts
        if not _NAME.fullmatch(name):
            raise BadTokenFile(f"{where} line {n}: {name[:80]!r} is not a token name", hint)
        if name in seen:
            raise BadTokenFile(f"{where} line {n}: token {name!r} is listed twice", hint)
        if not _DIGEST.fullmatch(stored):
            raise BadTokenFile(
                f"{where} line {n}: the third field is not sha256: and 64 hex digits",
                "store the digest, never the token itself: " + hint,
            )
        try:
            chosen = check_scopes(s for s in scopes.split(",") if s)
        except InvalidInput as exc:
            raise BadTokenFile(f"{where} line {n}: {exc.message}", exc.hint) from None
        seen.add(name)
        tokens.append(Token(name, chosen, stored))
    return tokens


def render(tokens: Iterable[Token]) -> str:
    """The token file's text for ``tokens`` (a header comment, one line each)."""
    lines = ["# rung tokens: NAME SCOPES DIGEST (see docs/security.md)"]
    lines += [t.line() for t in tokens]
    return "\n".join(lines) + "\n"


class TokenSet:
    """The tokens a server accepts, fixed for its life; empty means none configured (no
    authentication). :meth:`start` and :meth:`stop` (call them when serving begins and ends)
    do nothing here; a :class:`TokenFile`'s follow its file."""

    def __init__(self, tokens: Iterable[Token] = ()) -> None:
        self.tokens = tuple(tokens)

    def __bool__(self) -> bool:
        return bool(self.tokens)

    def start(self) -> None:
        """Nothing to follow: the tokens are fixed."""

    def stop(self) -> None:
        """Nothing to stop."""

    def verify(self, presented: str) -> Token | None:
        """The token whose digest matches ``presented``, or None. Every stored digest is
        compared (:func:`hmac.compare_digest`), matched or not, so the time taken does not
        say which token, or how much of one, matched."""
        if not presented or len(presented) > MAX_TOKEN:
            return None
        wanted = digest(presented).encode()
        found = None
        for token in self.tokens:
            if hmac.compare_digest(wanted, token.digest.encode()):
                found = token
        return found


FILE = "tokens"
"""The token file's name in a workspace's state folder (``.rung/tokens``)."""


def read_file(path: Path) -> list[Token]:
    """The tokens stored in ``path`` (none if it does not exist); raises
    :class:`BadTokenFile` naming the line of a malformed one, or a path that is no file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except UnicodeDecodeError:
        raise BadTokenFile(f"{path} is not UTF-8 text", "it is not a rung token file") from None
    except OSError as exc:
        raise BadTokenFile(
            f"cannot read the token file {path}: {exc.strerror or exc}", "give a file's path"
        ) from None
    return parse(text, str(path))


def write_file(path: Path, tokens: Iterable[Token]) -> None:
    """Replace ``path`` with ``tokens``, readable by its owner only (mode 0600), atomically
    (a reader sees the old file or the new one); its folder must exist."""
    import contextlib
    import os

    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(render(tokens))
        os.replace(partial, path)
    except OSError as exc:
        with contextlib.suppress(OSError):  # a folder of that name is not ours to remove
            if not partial.is_dir():
                partial.unlink(missing_ok=True)
        raise InvalidInput(
            f"cannot write the token file {path}: {exc.strerror or exc}",
            "give a path in a folder that exists and that you may write",
        ) from None


REFRESH_SECONDS = 1.0
"""How often a :class:`TokenFile` reads its file again: a token revoked or created is refused
or accepted at most this long (and one read of the file) after the file changed."""


class TokenFile(TokenSet):
    """The tokens of a token file as a running server accepts them: a :class:`TokenSet` whose
    ``tokens`` (one tuple, replaced in one assignment) a thread (:meth:`start`) reads again
    from the file every ``every`` seconds (:data:`REFRESH_SECONDS`), parsing it when its
    bytes differ from the last read. :meth:`verify` is ``TokenSet``'s: it reads no file and
    costs the same. The path is read again each time, never resolved once, so a file
    replaced atomically (``rung token create|revoke``, a Kubernetes secret's symlink swap) or
    edited in place is seen alike.

    Authentication stays on whatever the file becomes (``bool()`` is always true): a file
    emptied or deleted refuses every token; one that is unreadable, not UTF-8 or malformed
    refuses every token too (fail closed, rather than keep accepting a token whose revocation
    broke a line) until it is fixed. Each change is one line on ``log`` (INFO: the names
    added, revoked and changed; WARNING: a file that cannot be used), once per change, not at
    every read.

    Raises :class:`BadTokenFile` when the file cannot be used at construction (a server then
    does not start), like :func:`read_file`."""

    def __init__(
        self, path: Path, every: float = REFRESH_SECONDS, log: logging.Logger | None = None
    ) -> None:
        self.path = path
        self.every = every
        self.log = log if log is not None else logging.getLogger("rung.tokens")
        self._seen: bytes | str | None = self._read()  # the bytes, an error's text, or missing
        if isinstance(self._seen, str):
            raise BadTokenFile(self._seen, "give a token file, as rung token create writes it")
        super().__init__(self._parse(self._seen))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __bool__(self) -> bool:
        return True  # authentication is on for the server's life, whatever the file becomes

    def _read(self) -> bytes | str | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            return f"cannot read the token file {self.path}: {exc.strerror or exc}"

    def _parse(self, raw: bytes | None) -> list[Token]:
        if raw is None:
            return []
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadTokenFile(
                f"{self.path} is not UTF-8 text", "it is not a rung token file"
            ) from None
        return parse(text, str(self.path))

    def refresh(self) -> None:
        """Read the file now; if its bytes changed since the last read, accept what it holds
        (none, fail closed, if it cannot be used) and log the change."""
        raw = self._read()
        if raw == self._seen:
            return
        self._seen = raw
        try:
            if isinstance(raw, str):
                raise BadTokenFile(raw, "make it readable by the server")
            tokens = self._parse(raw)
        except BadTokenFile as exc:
            self.tokens = ()
            self.log.warning("%s — every token is refused until it is fixed", exc.message)
            return
        before = {t.name: t for t in self.tokens}
        self.tokens = tuple(tokens)  # one assignment: verify() iterates the old or the new
        after = {t.name: t for t in tokens}
        changes = [
            (kind, sorted(names))
            for kind, names in (
                ("added", after.keys() - before.keys()),
                ("revoked", before.keys() - after.keys()),
                ("changed", {n for n in after.keys() & before.keys() if after[n] != before[n]}),
            )
            if names
        ]
        self.log.info(
            "token file %s changed: %s%s",
            self.path,
            "missing, every token is refused" if raw is None else f"{len(tokens)} token(s)",
            "".join(f"; {kind}: {', '.join(names)}" for kind, names in changes),
        )

    def _follow(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.refresh()
            except Exception as exc:  # never end the thread: the next read tries again
                self.log.warning("reading the token file %s failed: %s", self.path, exc)

    def start(self) -> None:
        """Follow the file in a daemon thread until :meth:`stop` (once; later calls do
        nothing)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._follow, name="rung-tokens", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop following the file (the tokens accepted now stay)."""
        self._stop.set()
