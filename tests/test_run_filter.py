"""The run filter (rung.core.query, rung.pipelines.run_filter): parsed the same whatever the
spelling, refused in one line when malformed, and — on SQLite and PostgreSQL — selecting
exactly the runs a straightforward Python evaluation of the same filter selects."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rung.core.errors import InvalidInput
from rung.core.query import (
    ATTRIBUTES,
    And,
    Compare,
    Expr,
    Field,
    IsNan,
    Like,
    Member,
    Not,
    Or,
    Range,
    parse,
)

TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=6,
)
# texts longer than the 200 characters the index keeps of a parameter (LONG): equal there
LONG = ["x" * 250 + "a", "x" * 250 + "b", "x" * 200]
SMALL_TEXT = st.sampled_from(
    ["a", "b", "ab", "A", "x%", "é", "", "it's", 'say "hi"', "a_b", LONG[0], LONG[2]]
)
NUMBER = st.one_of(
    st.integers(-5, 5),
    st.sampled_from([0.5, 1.5, -0.25, 2.0, 1e-3, 3.75]),
)
KEYS = st.sampled_from(["acc", "loss", "C", "val loss", "eval.auc", "x-y"])


def fields() -> st.SearchStrategy[Field]:
    return st.one_of(
        st.builds(Field, st.just("metrics"), KEYS),
        st.builds(Field, st.just("params"), KEYS),
        st.builds(Field, st.just("run"), st.sampled_from(sorted(set(ATTRIBUTES) - {"dataset"}))),
    )


def _values_for(field: Field) -> st.SearchStrategy[Any]:
    if field.space == "metrics" or ATTRIBUTES.get(field.key) == "number":
        return NUMBER
    if field.space == "run":
        return SMALL_TEXT
    return st.one_of(NUMBER, SMALL_TEXT)


@st.composite
def comparisons(draw: Any) -> Expr:
    field = draw(fields())
    values = _values_for(field)
    kind = draw(st.sampled_from(["compare", "member", "range", "like"]))
    if kind == "like" and field.space != "metrics" and ATTRIBUTES.get(field.key) != "number":
        pattern = draw(st.sampled_from(["%", "a%", "%b", "_", "a_b", "%\\%%", "A%", "%é%", "\\"]))
        return Like(field, pattern, draw(st.booleans()), draw(st.booleans()))
    if kind == "member":
        return Member(
            field, tuple(draw(st.lists(values, min_size=1, max_size=3))), draw(st.booleans())
        )
    if kind == "range":  # the low end first (the other way round is refused)
        kind_values = (
            NUMBER if field.space != "run" or ATTRIBUTES[field.key] == "number" else values
        )
        low, high = sorted((draw(kind_values), draw(kind_values)))
        return Range(field, low, high, draw(st.booleans()))
    if field.space == "metrics" and draw(st.booleans()):
        return IsNan(field, draw(st.booleans()))
    op = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">="]))
    return Compare(field, op, draw(values))


def datasets() -> st.SearchStrategy[Expr]:
    field = Field("run", "dataset")
    ref = st.sampled_from(["sp500", "sp500@1", "sp500@2", "other", "other@1", "none@3"])
    return st.one_of(
        st.builds(Compare, st.just(field), st.just("="), ref),
        st.builds(Member, st.just(field), st.lists(ref, min_size=1, max_size=3).map(tuple)),
        st.builds(Like, st.just(field), st.sampled_from(["sp%", "%@2", "o_her@1"])),
    )


def _flat(node: type, parts: list[Expr]) -> Expr:
    out: list[Expr] = []
    for p in parts:
        out.extend(p.parts if isinstance(p, node) else (p,))  # type: ignore[attr-defined]
    return node(tuple(out))


EXPRS = st.recursive(
    st.one_of(comparisons(), datasets()),
    lambda inner: st.one_of(
        st.builds(Not, inner),
        st.lists(inner, min_size=2, max_size=3).map(lambda ps: _flat(And, ps)),
        st.lists(inner, min_size=2, max_size=3).map(lambda ps: _flat(Or, ps)),
    ),
    max_leaves=6,
)


@given(EXPRS)
def test_the_canonical_text_of_any_filter_parses_back_to_it(expr: Expr) -> None:
    assert parse(str(expr)) == expr


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("METRICS.acc>1 AND Params.C IN (1,2)", "metrics.acc > 1 and params.C in (1, 2)"),
        ("(a_name = 'x')", None),
        ("not (status = 'ok' or id <> 3)", 'not (status = "ok" or id != 3)'),
        ("(name = 'a' and id = 1) and kind = 'b'", 'name = "a" and id = 1 and kind = "b"'),
        ("metrics.`val loss` == 2", "metrics.`val loss` = 2"),
        ("name ILIKE 'x%' or name not like '_'", 'name ilike "x%" or name not like "_"'),
    ],
)
def test_spellings_of_one_filter_parse_to_one_tree(written: str, canonical: str | None) -> None:
    if canonical is None:
        with pytest.raises(InvalidInput, match="unknown field 'a_name'"):
            parse(written)
        return
    assert str(parse(written)) == canonical


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty filter"),
        ("   ", "empty filter"),
        ("metrics.acc > 0.9 and", "ends too early, at position 22"),
        ("metrics.acc >> 1", "unexpected '>' at position 14"),
        ("metrics.acc > 1 )", "unexpected ')' at position 17"),
        ("(metrics.acc > 1", "ends too early"),
        ("metrics > 1", "'metrics' needs a name after it"),
        ("params = 3", "'params' needs a name after it"),
        ("acuracy > 1", "unknown field 'acuracy'"),
        ("statuss = 'x'", "did you mean 'status'"),
        ('metrics.acc > "high"', "compared with numbers"),
        ("name > 3", "compared with text"),
        ("metrics.acc like 'x'", "needs a text pattern"),
        ("id in ()", "unexpected ')'"),
        ("metrics.acc = 1e999", "not finite"),
        ("metrics.acc = 'unterminated", "unexpected"),
        ("metrics.acc ~ 1", "unexpected '~"),
        ("params.C<1or id=3", "unexpected '1or' at position 10: put a space between the number"),
        ("metrics.acc > 1.5e-3and id = 1", "unexpected '1.5e-3and' at position 15: put a space"),
        ("id in (1,2x)", "unexpected '2x)' at position 10: put a space"),
        ("metrics.acc = nan", "select NaN with `is nan`: metrics.loss is nan"),
        ("metrics.acc in (1, nan)", "select NaN with `is nan`"),
        ("metrics.acc = 'NaN'", "select NaN with metrics.acc is nan"),
        ("metrics.acc != ' nan'", "select NaN with metrics.acc is nan"),
        ("params.C is nan", "only a metric can be NaN"),
        ("id is not nan", "only a metric can be NaN"),
        ("metrics.acc is null", "unexpected 'null'"),
        ("id between 5 and 1", "holds for no run: its low end 5 is above its high end 1"),
        ("metrics.acc between 1 and -0.5", "write the low end first: metrics.acc between -0.5"),
        ("id not between 2 and 1", "holds for every run with id"),
        ('name between "b" and "a"', 'write the low end first: name between "a" and "b"'),
        ("params.C between 1.5 and 1", "holds for no run"),
        (
            'started_at > "2026-11-30"',
            'write UNIX seconds: "2026-11-30" is 1795996800 (read as UTC)',
        ),
        ('ended_at < "2026-11-30 22:24:54"', "is 1796077494 (read as UTC)"),
        ('started_at >= "2026-11-30T23:24:54+01:00"', '+01:00" is 1796077494'),
        ('started_at > "last week"', "write UNIX seconds, e.g. started_at > 1767225600"),
        ('id = "3"', "write the number without quotes: 3"),
        ('metrics.acc in (" 0.5", 1)', "write the number without quotes: 0.5"),
        ("a" * 5000, "over the limit of 4000"),
    ],
)
def test_a_malformed_filter_is_one_line_naming_where_and_the_fix(text: str, says: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse(text)
    message = str(info.value)
    assert says in message
    assert "\n" not in message and info.value.hint


@given(
    st.text(
        alphabet="metrics.acc params.C name id and or not in between like is nan ()=<>!,\"'`0.9-_%",
        max_size=40,
    )
)
def test_any_text_is_a_filter_or_a_one_line_refusal(text: str) -> None:
    try:
        expr = parse(text)
    except InvalidInput as exc:
        assert "\n" not in str(exc)
    else:
        assert parse(str(expr)) == expr


# -- the database's selection against a straightforward evaluation ------------------------

RUNS = 36


def _like_regex(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        elif ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _ascii_lower(text: str) -> str:
    return text.translate(str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"))


def _holds(op: str, a: Any, b: Any) -> bool:
    return {
        "=": a == b,
        "!=": a != b,
        "<": a < b,
        "<=": a <= b,
        ">": a > b,
        ">=": a >= b,
    }[op]


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _test(expr: Expr, value: Any, kind: str) -> bool:
    """``expr``'s comparison on a present ``value`` of ``kind`` (number or text)."""

    def fits(v: Any) -> bool:
        return _number(v) if kind == "number" else isinstance(v, str)

    if isinstance(expr, Compare):
        return fits(expr.value) and _holds(expr.op, value, expr.value)
    if isinstance(expr, Member):
        hit = any(fits(v) and value == v for v in expr.values)
        mine = [v for v in expr.values if fits(v)]
        return (bool(mine) and not hit) if expr.negated else hit
    if isinstance(expr, Range):
        if not (fits(expr.low) and fits(expr.high)):
            return False
        inside = expr.low <= value <= expr.high
        return not inside if expr.negated else inside
    if isinstance(expr, Like):
        if kind != "text":
            return False
        subject, pattern = (
            (value, expr.pattern)
            if expr.case
            else (_ascii_lower(value), _ascii_lower(expr.pattern))
        )
        hit = _like_regex(pattern).fullmatch(subject) is not None
        return not hit if expr.negated else hit
    raise AssertionError(expr)


def evaluate(expr: Expr, run: dict[str, Any]) -> bool:
    if isinstance(expr, And):
        return all(evaluate(p, run) for p in expr.parts)
    if isinstance(expr, Or):
        return any(evaluate(p, run) for p in expr.parts)
    if isinstance(expr, Not):
        return not evaluate(expr.part, run)
    field = expr.field  # type: ignore[union-attr]
    if isinstance(expr, IsNan):  # NaN as IEEE 754 has it: the one value unequal to itself
        value = run["metrics"].get(field.key)
        return value is not None and (value != value) != expr.negated
    if field.space == "metrics":
        value = run["metrics"].get(field.key)
        if value is None or math.isnan(value):
            return False
        return _test(expr, value, "number")
    if field.space == "params":
        if field.key not in run["params"]:
            return False
        value = run["params"][field.key]
        if _number(value):
            return _test(expr, value, "number")
        if isinstance(value, str):
            return _test(expr, value, "text")
        return False
    if field.key == "dataset":
        reads = run["reads"]
        if isinstance(expr, Like):
            return any(_test(expr, r, "text") for r in reads)
        wanted = (expr.value,) if isinstance(expr, Compare) else expr.values  # type: ignore[union-attr]
        return any(r == w if "@" in w else r.split("@")[0] == w for r in reads for w in wanted)
    value = run[field.key]
    if value is None:
        return False
    return _test(expr, value, ATTRIBUTES[field.key])


@pytest.fixture(
    scope="module",
    params=[
        "sqlite",
        "sqlite-migrated",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("postgres-migrated", marks=pytest.mark.postgres),
    ],
)
def population(tmp_path_factory, request) -> Any:  # type: ignore[no-untyped-def]
    """A store holding RUNS runs with varied metrics (some NaN, some logged twice), params
    (pipeline ones, logged ones overriding them, of every JSON kind) and attributes.

    ``-migrated``: the same rows, then the store taken back to revision 0017 (before the
    filter's index tables) and up again, so that migration 0018 fills them from the rows."""
    import random

    from conftest import _pg_database
    from rung.store.metadata import MetadataStore

    backend = request.param.split("-")[0]
    root = tmp_path_factory.mktemp(f"runs-{request.param}")
    urls = _pg_database() if backend == "postgres" else iter([f"sqlite:///{root / 'm.db'}"])
    url = next(urls)
    store = MetadataStore(url)
    rnd = random.Random(7)
    runs = []
    names = ["train", "Train", "smoke-test", "é-run", "a_b", "x%"]
    kinds: list[Any] = [1, 2, 0.5, 1.5, "a", "b", "ab", "A", True, None, [1], {"k": 1}, "", *LONG]
    with store.write() as tx:
        for i in range(RUNS):
            pipeline = {k: rnd.choice(kinds) for k in rnd.sample(["C", "acc", "x-y"], 2)}
            logged = {k: rnd.choice(kinds) for k in rnd.sample(["C", "loss", "val loss"], 1)}
            reads = rnd.sample(["sp500@1", "sp500@2", "other@1"], rnd.randint(0, 2))
            row = {
                "name": rnd.choice(names),
                "kind": rnd.choice(["pipeline", "tracking"]),
                "status": rnd.choice(["succeeded", "failed", "running"]),
                "trigger": rnd.choice(["manual", "drift", "schedule"]),
                "params": json.dumps(pipeline),
                "started_at": float(1000 + i),
                "ended_at": None if i % 5 == 0 else float(1000 + i) + 0.5,
                "code_commit": rnd.choice([None, "abc", "b"]),
                "data_reads": (
                    json.dumps([{"ref": r, "dataset": r, "step": None} for r in reads])
                    if reads
                    else None
                ),
            }
            run_id = tx.insert("runs", row)
            for k, v in logged.items():
                tx.insert("params", {"run_id": run_id, "key": k, "value": json.dumps(v)}, None)
            metrics: dict[str, float] = {}
            for k in rnd.sample(["acc", "loss", "eval.auc", "val loss"], rnd.randint(0, 3)):
                for step in range(rnd.randint(1, 2)):
                    v = rnd.choice([0.5, 1.5, -0.25, 2.0, float("nan"), 1.0, 3.75, math.inf])
                    tx.insert(
                        "metrics",
                        {
                            "run_id": run_id,
                            "key": k,
                            "value": tx.real(v),
                            "step": step,
                            "timestamp": 0.0,
                        },
                    )
                    metrics[k] = v
            kept = ("name", "kind", "status", "trigger", "started_at", "ended_at", "code_commit")
            runs.append(
                {
                    "id": run_id,
                    **{k: row[k] for k in kept},
                    "params": {**pipeline, **logged},
                    "metrics": metrics,
                    "reads": reads,
                }
            )
    if request.param.endswith("-migrated"):
        store.close()
        _down_and_up(url)
        store = MetadataStore(url)
    yield store, runs
    store.close()
    for _ in urls:  # the database is dropped
        pass


def _down_and_up(url: str) -> None:
    """The store at ``url`` migrated down to 0017 and up to the head again."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            cfg = Config()
            cfg.set_main_option("script_location", "rung.store:migrations")
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0017")
            tables = {"latest_metrics", "run_params"} & set(
                conn.dialect.get_table_names(conn)  # type: ignore[attr-defined]
            )
            assert not tables, tables  # really at 0017: nothing left to read
            command.upgrade(cfg, "head")
    finally:
        engine.dispose()


def _selected(store: Any, expr: Expr, drive: bool | None = False) -> list[int]:
    """The runs ``expr`` selects, as ``where`` writes it: each condition looked up per run
    (``drive=False``) or starting from the set of runs of the most selective one (True)."""
    from rung.pipelines.run_filter import where

    with store.read() as tx:
        cond, params = where(expr, store.dialect, tx, drive=drive)
        return [r["id"] for r in tx.all(f"SELECT id FROM runs WHERE {cond} ORDER BY id", params)]


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(expr=EXPRS, drive=st.booleans())
def test_the_database_selects_exactly_what_the_filter_means(
    population: Any, expr: Expr, drive: bool
) -> None:
    store, runs = population
    want = [r["id"] for r in runs if evaluate(expr, r)]
    assert _selected(store, expr, drive) == want, str(expr)


@pytest.mark.parametrize(
    "text",
    [
        "metrics.acc > 1",
        "not metrics.acc > 1",
        "metrics.acc != 1.5",
        "params.C = 1",
        'params.C = "a"',
        'params.C in (1, "a")',
        'params.C not in (1, "a")',
        "params.C between 0.5 and 1.5",
        'name like "%a%"',
        'name ilike "t%"',
        'name like "x\\%"',
        'name like "\\"',  # a lone backslash at its end stands for itself (PostgreSQL refused it)
        'dataset = "sp500"',
        'dataset in ("sp500@2", "other")',
        'not dataset = "sp500"',
        "ended_at > 1010",
        "not ended_at > 1010",
        'code_commit = "b" or code_commit < "b"',
        "metrics.loss is nan",
        "metrics.loss IS NOT NaN",
        "not metrics.acc is nan",
        "metrics.acc is not nan and metrics.acc > 1",
        'params.C > "a"',
        'params.C <= "ab" and params.C >= "A"',
        'params.C between "a" and "b"',
        'params.C in ("a", "ab", "")',
        'params.C like "a%"',
        f'params.C = "{LONG[0]}" or params.loss in ("{LONG[1]}", "a")',
        f'params.C > "{LONG[2]}" and params.C <= "{LONG[0]}"',
        'metrics.acc > 1 or params.C = "a"',
        'metrics.acc >= 0.5 and (params.C = 1 or params.loss = "b") and not params.C = 2',
    ],
)
def test_named_filters_select_what_they_mean(population: Any, text: str) -> None:
    store, runs = population
    expr = parse(text)
    want = [r["id"] for r in runs if evaluate(expr, r)]
    assert _selected(store, expr) == want
    assert _selected(store, expr, drive=True) == want


def test_rung_runs_filter_through_the_cli_and_the_workspace(ws) -> None:  # type: ignore[no-untyped-def]
    """Runs logged through the tracking API, filtered by ``ws.runs.list(filter=…)`` and by
    ``rung runs --filter`` (the real CLI, on the same store); a malformed filter is one
    line and a non-zero exit, nothing listed."""
    import os

    import rung
    from conftest import rung_cli

    for c, acc in ((0.1, 0.95), (1.0, 0.85), (10.0, 0.97)):
        with ws.start_run("sweep", params={"C": c}):
            rung.log_metric("accuracy", acc)
    with ws.start_run("<script>alert(1)</script>", params={"C": 0.1}):
        rung.log_metric("accuracy", 0.5)
    wanted = "metrics.accuracy > 0.9 and params.C in (0.1, 1)"
    got = ws.runs.list(filter=wanted)
    assert [(r.params["C"], r.metrics["accuracy"]) for r in got] == [(0.1, 0.95)]
    env = {"RUNG_STORE_URL": os.environ["RUNG_STORE_URL"]}
    listed = rung_cli("runs", "--filter", wanted, "--json", cwd=ws.root, env=env)
    assert listed.returncode == 0, listed.stderr
    assert [r["metrics"]["accuracy"] for r in json.loads(listed.stdout)] == [0.95]
    table = rung_cli("runs", "-f", 'name like "<script>%"', cwd=ws.root, env=env)
    assert table.returncode == 0 and "alert(1)" in table.stdout, table.stderr
    none = rung_cli("runs", "-f", "metrics.accuracy > 2", cwd=ws.root, env=env)
    assert none.returncode == 0 and "no run matches the filter" in none.stdout + none.stderr
    bad = rung_cli("runs", "--filter", "metrics.accuracy >> 0.9", cwd=ws.root, env=env)
    assert bad.returncode != 0 and bad.stdout == ""
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and "at position 19" in lines[0] and "Traceback" not in bad.stderr


def _nested(kind: str, depth: int) -> str:
    """A filter nesting ``depth`` levels: ``not`` in ``not``, or ``and`` inside ``or``
    inside ``and`` …"""
    if kind == "not":
        return "not " * depth + "id = 1"
    text = "id = 0"
    for level in range(depth):
        word = "and" if level % 2 == 0 else "or"
        text = f"id = {level + 1} {word} ({text})"
    return text


@pytest.mark.parametrize("kind", ["not", "and-or"])
def test_nesting_is_bounded_in_one_line_and_what_is_allowed_runs_on_the_database(
    population: Any, kind: str
) -> None:
    """60 nested ``not`` overflowed SQLite's parser stack and ~1,000 Python's recursion
    (a traceback): nesting is bounded; at the bound, the filter runs on both databases."""
    from rung.core.query import MAX_DEPTH

    store, runs = population
    allowed = parse(_nested(kind, MAX_DEPTH))
    assert _selected(store, allowed) == [r["id"] for r in runs if evaluate(allowed, r)]
    for depth in (MAX_DEPTH + 1, 60, 990 if kind == "not" else 200):
        with pytest.raises(InvalidInput, match=f"nests {depth} levels deep, over the limit"):
            parse(_nested(kind, depth))
    deep_parentheses = "(" * 1500 + "id = 1" + ")" * 1500  # no nesting of its own
    assert _selected(store, parse(deep_parentheses)) == [r["id"] for r in runs if r["id"] == 1]


@pytest.mark.parametrize(
    "text", ['id like "1%"', 'started_at ilike "17%"', 'ended_at not like "%"']
)
def test_like_is_refused_on_numbers_as_on_metrics(text: str) -> None:
    with pytest.raises(InvalidInput, match="needs a text pattern and a field holding text"):
        parse(text)


@pytest.mark.parametrize(
    ("text", "fix"),
    [
        ('name = "abc', 'close the text with a second "'),
        ("name = 'abc", "close the text with a second '"),
        ("name = \u201cabc\u201d", "write straight quotes"),
        ("name = \u2018abc\u2019", "write straight quotes"),
        ("id = 1 id", "(expected `)`, `,`, `and`, `or`)"),
        ("id = 1 )", "(expected the end)"),
        ('name = "wine" and and id = 1', "'and' then 'and' at position 19: drop one of them"),
        ("id = 1 OR and id = 2", "'OR' then 'and' at position 11"),
        ("not or id = 1", "'not' then 'or' at position 5"),
        ('name = "a and or" and id = 1 )', "unexpected ')' at position 30"),  # quoted: a value
        ('name = "unterminated text', "unexpected '\"unterminated' at position 8"),
        ("id = 1 ~" + "x" * 30, "unexpected '~" + "x" * 18 + "…' at position 8"),
    ],
)
def test_quoting_mistakes_and_stray_words_get_their_own_fix(text: str, fix: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse(text)
    assert fix in str(info.value) and "$end" not in str(info.value).lower()


@pytest.mark.parametrize(
    "text",
    [
        'dataset != "sp500"',
        'dataset < "sp500@2"',
        'dataset >= "a"',
        'dataset not in ("sp500")',
        'dataset not like "sp%"',
        'dataset between "a" and "b"',
        'dataset not between "a" and "b"',
        'name = "x" and (dataset <> "y" or id = 1)',
    ],
)
def test_dataset_takes_only_what_a_set_of_reads_can_mean_refused_when_parsed(text: str) -> None:
    """``dataset`` holds the versions a run read: ``=``, ``in`` and ``like`` (by any read);
    their negations and orders are refused by the parser, before any query."""
    with pytest.raises(InvalidInput, match="dataset takes `=`, `in` and `like`") as info:
        parse(text)
    hint = info.value.hint or ""
    value = re.findall(r'"[^"]*"', text.split("dataset", 1)[1])[0]  # the user's own value
    negative = "!=" in text or "<>" in text or "dataset not" in text
    assert ("`not dataset" in hint) == negative and value in hint, hint
    assert "sp500" not in hint or "sp500" in text  # no made-up name


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["runs", "-f", "status", "=", "failed"], "the shell split the filter into words"),
        (["runs", "--filter", "name", "like", "x%"], "('like x%' left over)"),
        (["runs", "--filter=id", ">", "3"], "('> 3' left over)"),
        (["runs", "-f", "name = wine"], "a text value must be quoted, not 'wine'"),
        (["runs", "-f", "status in (failed, dead)"], "must be quoted, not 'failed'"),
        (["runs", "-f", 'name = "a" or params.model = tree'], "must be quoted, not 'tree'"),
        (["compare", "1", "-3"], "No such option '-3'"),
        (["runs", "-n", "0"], "0 is not in the range"),
        (["runs", "--jsno"], "Did you mean '--json'"),
        (["runs", "extra"], "Got unexpected extra argument (extra) — see `rung runs --help`"),
        (["show"], "Missing argument 'RUN' — see `rung show --help`"),
    ],
)
def test_usage_and_shell_quoting_mistakes_are_one_line(
    args: list[str], says: str, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """click's usage mistakes and the filters a shell took the quotes out of are rung's one
    line (``error: … — fix``), the latter with the fix of quoting the whole filter."""
    from conftest import rung_cli
    from rung.core.query import SHELL_QUOTING

    assert rung_cli("init", cwd=tmp_path).returncode == 0
    got = rung_cli(*args, cwd=tmp_path)
    lines = got.stderr.strip().splitlines()
    assert got.returncode != 0 and got.stdout == "", got
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], got.stderr
    if args[0] == "runs" and args[1].startswith(("-f", "--filter")):
        assert lines[0].endswith(SHELL_QUOTING)


def _typos(word: str) -> list[str]:
    """One-edit misspellings of ``word``: a letter dropped, one added, two swapped, another
    case — each within :func:`rung.core.suggest.closest`'s reach of it."""
    typos = [
        word[:2] + word[3:],
        word[:3] + "x" + word[3:],
        word[:1] + word[2] + word[1] + word[3:],
        word[:-2] + word[-1] + word[-2],
        word.upper(),
    ]
    return [t for t in typos if t != word]


def test_names_no_run_holds_are_refused_or_hinted_with_the_nearest(ws) -> None:  # type: ignore[no-untyped-def]
    """A status or kind value outside its closed set and a dataset that does not exist are
    refused in one line with the nearest name; a metric or parameter key, a run name or a
    trigger no run holds gets a hint naming the nearest one when nothing matched (the
    workspace's ``filter_hints`` and ``rung runs``); every name that exists gets neither."""
    import os

    import pandas as pd

    import rung
    from conftest import rung_cli
    from rung.core.errors import InvalidInput
    from rung.pipelines.filter_names import CLOSED

    ws.data.add(pd.DataFrame({"x": [1, 2]}), name="wines")
    with ws.start_run("sweep-alpha", params={"alpha": 0.5, "solver": "lbfgs"}):
        rung.log_metric("accuracy", 0.9)
        rung.log_metric("val_loss", 0.3)
    for attribute, values in CLOSED.items():
        for value in values:
            ws.runs.list(filter=f'{attribute} = "{value}"')  # allowed
            for typo in _typos(value):
                for written in (f'{attribute} = "{typo}"', f'{attribute} not in ("{typo}")'):
                    with pytest.raises(InvalidInput) as info:
                        ws.runs.list(filter=f"id > 0 and {written}")
                    assert f"{attribute} is never {typo!r}" in info.value.message
                    assert f"did you mean {value!r}" in (info.value.hint or ""), written
    for ref in ("wines", "wines@1"):
        assert ws.runs.list(filter=f'dataset = "{ref}"') == []  # exists: no refusal
        for typo in _typos(ref):
            with pytest.raises(InvalidInput, match=f"no dataset {typo!r}") as info:
                ws.runs.list(filter=f'dataset in ("{typo}")')
            assert "did you mean 'wines" in (info.value.hint or "")
    named = {
        "metrics.{}": ["accuracy", "val_loss"],
        "params.{}": ["alpha", "solver"],
        "name": ["sweep-alpha"],
        "trigger": ["manual"],
    }
    for template, words in named.items():
        for word in words:
            if template.startswith(("metrics", "params")):
                right, written = template.format(word) + " < 0", template.format("{}") + " < 0"
            else:
                right, written = f'{template} = "{word}"', f'{template} = "{{}}"'
            assert ws.runs.filter_hints(right) == []
            for typo in _typos(word):
                hints = ws.runs.filter_hints(["id > 0", written.format(typo)])
                assert len(hints) == 1 and f"did you mean {word!r}?" in hints[0], hints
                assert repr(typo) in hints[0]
    env = {"RUNG_STORE_URL": os.environ["RUNG_STORE_URL"]}
    empty = rung_cli("runs", "-f", "metrics.acuracy > 0.5", "-f", "id > 0", cwd=ws.root, env=env)
    assert empty.returncode == 0 and empty.stdout.splitlines() == [
        "no run matches the filters 'metrics.acuracy > 0.5' and 'id > 0'",
        "no run has a metric 'acuracy' — did you mean 'accuracy'?",
    ], empty
    refused = rung_cli("runs", "-f", 'status = "sucess"', cwd=ws.root, env=env)
    assert refused.returncode == 1 and refused.stderr.strip().splitlines() == [
        "error: filter 'status = \"sucess\"': status is never 'sucess' — did you mean"
        " 'succeeded'? (status is one of running, succeeded, failed, dead)"
    ]


PAIRS = [
    ("id >= 2", "id <= 3"),
    ("params.C < 5", "metrics.acc is not nan"),
    ('name = "a"', "not id = 1"),
    ("metrics.acc > 0.5 or id = 1", "params.C in (1, 10)"),
    ("id = 1", "id = 2"),
]


def test_repeated_filters_select_what_every_one_selects(ws) -> None:  # type: ignore[no-untyped-def]
    """``-f A -f B`` (a list of filters) is ``(A) and (B)``, in the workspace and the CLI."""
    import os

    import rung
    from conftest import rung_cli

    for i, (name, c, acc) in enumerate(
        [("a", 1, 0.9), ("b", 10, 0.4), ("a", 3, math.nan), ("a", 10, 0.7)]
    ):
        with ws.start_run(name, params={"C": c, "i": i}):
            rung.log_metric("acc", acc)
    env = {"RUNG_STORE_URL": os.environ["RUNG_STORE_URL"]}
    for a, b in PAIRS:
        both = [r.id for r in ws.runs.list(filter=f"({a}) and ({b})")]
        assert [r.id for r in ws.runs.list(filter=[a, b])] == both, (a, b)
        listed = rung_cli("runs", "-f", a, "-f", b, "--json", cwd=ws.root, env=env)
        assert [r["id"] for r in json.loads(listed.stdout)] == both, listed.stderr
    assert [r.id for r in ws.runs.list(filter=[])] == [r.id for r in ws.runs.list()]
