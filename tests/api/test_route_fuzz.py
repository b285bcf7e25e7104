"""Bad input on every route of the route table never makes the server fail.

Every row of ``homeserver.api.routing`` (read from the table, not listed
here) gets, as an anonymous caller and as a server admin:

- bad bodies: JSON nested 10,000 deep, lone surrogates and NUL in strings
  and keys, integers of 2**63 and 2**64, a number that overflows a float,
  wrong types for the keys the handler reads, a huge string, non-object and
  non-UTF-8 bodies;
- bad path parameters: NUL, invalid UTF-8, a lone surrogate, a huge segment;
- bad query strings: numbers beyond 64 bits, negative numbers, words,
  broken percent-encoding.

Each answer must come within a timeout, be below 500, and, when a 4xx,
carry a JSON body with a string ``errcode``. A Hypothesis property test then
sends random bodies and queries to random routes.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from homeserver.api.routing import Auth, Route, all_routes
from tests.api.fuzz_helpers import (
    Answer,
    RouteFuzzer,
    body_keys,
    fill_path,
    has_body,
    query_keys,
    route_params,
)

Client = TestClient[Any, Any]

ROUTES: list[Route] = all_routes()

_DEEP_LIST = b"[" * 10_000 + b"]" * 10_000
_DEEP_OBJECT = b'{"a":' * 10_000 + b"1" + b"}" * 10_000


def _all_keys(keys: list[str], value: Any) -> bytes:
    return json.dumps(dict.fromkeys(keys, value)).encode()


def bad_bodies(route: Route) -> list[tuple[str, bytes]]:
    """(label, body) pairs: each key the handler reads gets the bad value."""
    keys = body_keys(route)
    return [
        ("deep list", _DEEP_LIST),
        ("deep object", _DEEP_OBJECT),
        ("lone surrogate", _all_keys(keys, "a\ud800b")),
        ("lone surrogate key", json.dumps({"\udc00": 1, **dict.fromkeys(keys, "x")}).encode()),
        ("NUL", _all_keys(keys, "a\x00b")),
        ("NUL key", json.dumps({"k\x00": 1, **dict.fromkeys(keys, "x")}).encode()),
        ("2**63", _all_keys(keys, 2**63)),
        ("2**64", _all_keys(keys, 2**64)),
        ("-(2**63)-1", _all_keys(keys, -(2**63) - 1)),
        ("2**63-1", _all_keys(keys, 2**63 - 1)),
        ("2**53", _all_keys(keys, 2**53)),
        ("2**31", _all_keys(keys, 2**31)),
        ("float overflow", ("{" + ",".join(f'"{k}":1e400' for k in keys) + "}").encode()),
        ("list values", _all_keys(keys, [[], {}])),
        ("object values", _all_keys(keys, {"a": {"b": [1]}})),
        ("float values", _all_keys(keys, -1.5)),
        ("huge string", _all_keys(keys[:4], "x" * 100_000)),
        ("top-level list", b"[1, 2]"),
        ("top-level string", b'"x"'),
        ("not UTF-8", b'{"a": "\xff\xfe"}'),
        ("truncated", b'{"a": '),
    ]


BAD_PATH_VALUES = [
    ("NUL", "a%00b"),
    ("invalid UTF-8", "%ff%fe"),
    ("lone surrogate", "%ED%A0%80"),
    ("broken escape", "%zz%"),
    ("huge", "x" * 4000),
    ("odd identifier", "!%3A%40%24"),
]

BAD_QUERY_VALUES = [
    ("2**64", str(2**64)),
    ("2**63-1", str(2**63 - 1)),
    ("huge negative", str(-(2**70))),
    ("negative", "-1"),
    ("word", "abc"),
    ("broken escape", "%zz%ff"),
    ("lone surrogate", "%ED%A0%80"),
    ("NUL", "1%000"),
]

#: Long-polls and media downloads answer at once unless the query under
#: test is their timeout.
_WAIT_KEYS = ("timeout", "timeout_ms")


def _query(key: str, value: str) -> str:
    no_wait = [f"{k}=0" for k in _WAIT_KEYS if k != key]
    return "&".join([*no_wait, f"{quote(key)}={value}"])


def _open_to_anonymous(route: Route) -> bool:
    return route.auth in (Auth.NONE, Auth.OPTIONAL)


async def _sweep_route(fuzzer: RouteFuzzer, route: Route, authed: bool) -> list[Answer]:
    answers: list[Answer] = []
    if not authed and not _open_to_anonymous(route):
        # Refused before anything is parsed; one request checks the refusal.
        return [await fuzzer.send(route, authed=False, data=_DEEP_LIST, what="no token")]
    if has_body(route):
        for label, body in bad_bodies(route):
            answers.append(await fuzzer.send(route, authed=authed, data=body, what=label))
    good = fuzzer.path_values(route)
    for name in route_params(route):
        for label, value in BAD_PATH_VALUES:
            path = fill_path(route, {**good, name: value})
            answers.append(
                await fuzzer.send(route, authed=authed, path=path, data=b"{}", what=label)
            )
    for key in query_keys(route):
        for label, value in BAD_QUERY_VALUES:
            if key in _WAIT_KEYS and label == "2**63-1":
                continue  # a valid, very long wait
            query = _query(key, value)
            answers.append(
                await fuzzer.send(
                    route, authed=authed, query=query, data=b"{}", what=f"{key}: {label}"
                )
            )
    return answers


def _report(answers: list[Answer]) -> str:
    bad = [a for a in answers if a.problem is not None]
    lines = [f"{len(bad)} of {len(answers)} requests failed:"]
    lines += [f"  {a.what}: {a.problem}" for a in bad[:40]]
    return "\n".join(lines)


async def test_every_route_refuses_bad_input_with_a_matrix_error(client: Client) -> None:
    fuzzer = await RouteFuzzer.start(client)
    answers: list[Answer] = []
    for route in ROUTES:
        for authed in (False, True):
            answers.extend(await _sweep_route(fuzzer, route, authed))
    assert len({(r.method, r.path) for r in ROUTES}) >= 250  # the table was read whole
    assert all(a.problem is None for a in answers), _report(answers)


# --- property test -----------------------------------------------------------------

_poison = st.sampled_from(["a\ud800", "\udfff", "a\x00", 2**63, 2**64, -(2**63) - 1, 2**53])
_leaves = (
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | _poison
)
_values = st.recursive(
    _leaves,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)


@st.composite
def _requests(draw: st.DrawFn) -> tuple[int, bool, bytes, str]:
    index = draw(st.integers(0, len(ROUTES) - 1))
    route = ROUTES[index]
    keys = body_keys(route)
    body = draw(st.dictionaries(st.sampled_from(keys) | st.text(max_size=8), _values, max_size=5))
    raw = json.dumps(body).encode()
    params = draw(
        st.dictionaries(
            st.sampled_from([k for k in query_keys(route) if k not in _WAIT_KEYS]),
            st.text(max_size=12) | st.integers(-(2**70), 2**70).map(str),
            max_size=3,
        )
    )
    pairs = [f"{k}=0" for k in _WAIT_KEYS]
    pairs += [f"{quote(k)}={quote(v, safe='')}" for k, v in params.items()]
    query = "&".join(pairs)
    return index, draw(st.booleans()), raw, query


def _index_of(method: str, path: str) -> int:
    return next(i for i, r in enumerate(ROUTES) if (r.method, r.path) == (method, path))


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(request=_requests())
@example(
    request=(
        _index_of("POST", "/_matrix/client/v3/login"),
        False,
        b'{"type": "m.login.password", "password": "\\ud800"}',
        "",
    )
)
@example(
    request=(
        _index_of("PUT", "/_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}"),
        True,
        b'{"body": 9007199254740992}',
        "",
    )
)
async def test_random_requests_to_random_routes_never_fail(
    client: Client, request: tuple[int, bool, bytes, str]
) -> None:
    index, authed, raw, query = request
    fuzzer: RouteFuzzer | None = getattr(client, "_route_fuzzer", None)
    if fuzzer is None:
        fuzzer = await RouteFuzzer.start(client)
        client._route_fuzzer = fuzzer  # type: ignore[attr-defined]
    route = ROUTES[index]
    if has_body(route):
        answer = await fuzzer.send(route, authed=authed, query=query, data=raw)
    else:
        answer = await fuzzer.send(route, authed=authed, query=query)
    assert answer.problem is None, f"{answer.what}: {answer.problem}"
