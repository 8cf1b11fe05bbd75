"""Hypothesis targets: the path-template parser, the transcoder and the USD parser.

Each fails only in the way its contract says (TemplateError, ClientError, InvalidArgument),
never with another exception, whatever the input. Every case in `corpus/` (inputs that
once mattered: real templates, edge amounts, odd bodies) runs first, then Hypothesis
generates more. The budget is small so the module runs in seconds; raise it locally with
`--hypothesis-profile=deep`.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmgw.bridge.app import APIS
from llmgw.bridge.errors import ClientError
from llmgw.bridge.openai_shapes import DISPATCHERS, OPENAI_SHAPES
from llmgw.bridge.path_template import TemplateError, parse
from llmgw.bridge.routes import Route, build_route_table, discover_services
from llmgw.bridge.transcode import build_request
from llmgw.server.core.money import format_usd
from llmgw.wire.errors import InvalidArgument
from llmgw.wire.usd import PICODOLLARS_PER_USD, parse_usd

CORPUS = Path(__file__).parent / "corpus"
settings.register_profile("ci", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("deep", max_examples=5000, deadline=None)
settings.load_profile("ci")


def _lines(name: str) -> list[str]:
    return (CORPUS / name).read_text(encoding="utf-8").splitlines()


# Path templates: text built from the grammar's own pieces finds more than random text does.
_PIECE = st.sampled_from(["/", "{", "}", "=", "*", "**", ":", ".", "v1", "name", "a", "_", "-", "%2F", "x9"])
_TEMPLATE = st.lists(_PIECE, max_size=16).map("".join) | st.text(max_size=40)


def _parse_or_refuse(template: str) -> None:
    try:
        parsed = parse(template)
    except TemplateError:
        return
    assert parsed.source == template
    assert len({variable.name for variable in parsed.variables}) == len(parsed.variables)


@pytest.mark.parametrize("template", _lines("path_templates.txt"))
def test_path_template_corpus(template: str) -> None:
    """Each corpus template parses or is refused with TemplateError."""
    _parse_or_refuse(template)


@given(_TEMPLATE)
def test_path_template_parser_never_crashes(template: str) -> None:
    """Any text: a template, or TemplateError."""
    _parse_or_refuse(template)


@given(st.lists(st.text(alphabet="abc:%2F._-", min_size=0, max_size=12), max_size=5))
def test_matching_never_crashes(parts: list[str]) -> None:
    """The gateway's own templates match any path segments or return None."""
    for template in ("/v1/models/{model}", "/v1/users/{user}/quota/status", "/v1/{name=**}"):
        values = parse(template).match(parts)
        assert values is None or all(isinstance(value, str) for value in values.values())


# The USD parser: exact, and refusing with InvalidArgument only.
def _usd_or_refuse(text: str) -> None:
    try:
        picodollars = parse_usd(text, field="limit_usd")
    except InvalidArgument:
        return
    assert 0 <= picodollars <= 10**9 * PICODOLLARS_PER_USD
    assert picodollars % 10**6 == 0, "at most six decimals"
    assert parse_usd(format_usd(picodollars), field="limit_usd") == picodollars


@pytest.mark.parametrize("text", _lines("usd.txt"))
def test_usd_corpus(text: str) -> None:
    """Each corpus amount parses exactly or is refused with InvalidArgument."""
    _usd_or_refuse(text)


@given(st.text(alphabet="0123456789.-+eE nNaIifty", max_size=30) | st.text(max_size=30))
def test_usd_parser_never_crashes(text: str) -> None:
    """Any text: an exact amount, or InvalidArgument."""
    _usd_or_refuse(text)


@given(st.decimals(min_value=0, max_value=10**9, places=6, allow_nan=False, allow_infinity=False))
def test_usd_round_trips(amount: Decimal) -> None:
    """Every amount with up to six decimals is kept exactly."""
    assert parse_usd(str(amount), field="x") == int(amount * PICODOLLARS_PER_USD)


# The transcoder: any JSON body becomes the request message or a ClientError.
_ROUTES = build_route_table(discover_services(), DISPATCHERS, OPENAI_SHAPES, APIS).routes
_JSON_ROUTES = [route for route in _ROUTES if route.body is not None and not route.raw_body]
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=25,
)
_FIELDS = st.sampled_from(
    [
        "model",
        "messages",
        "role",
        "content",
        "type",
        "text",
        "tools",
        "tool_choice",
        "stop",
        "input",
        "stream",
        "response_format",
        "json_schema",
        "schema",
        "name",
        "limit_usd",
        "frequency",
        "expires_at",
        "max_tokens",
    ]
)
_BODY = st.dictionaries(_FIELDS, _JSON, max_size=6) | _JSON


def _transcode_or_refuse(route: Route, body: object) -> None:
    try:
        message = build_request(route, body, {}, b"")
    except ClientError as exc:
        status = exc.http_status
    else:
        assert isinstance(message, route.request_class)
        return
    assert 400 <= status < 500


@pytest.mark.parametrize("line", _lines("chat_bodies.jsonl"))
def test_transcoder_corpus(line: str) -> None:
    """Each corpus body becomes a request for every JSON route, or a ClientError."""
    body = json.loads(line)
    for route in _JSON_ROUTES:
        _transcode_or_refuse(route, body)


@settings(max_examples=60)
@given(st.sampled_from(_JSON_ROUTES), _BODY)
def test_transcoder_never_crashes(route: Route, body: object) -> None:
    """Any JSON body on any JSON route: a request message, or a 4xx ClientError."""
    _transcode_or_refuse(route, body)
