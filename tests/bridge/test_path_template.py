"""Tables for the path-template tokenizer, parser and matcher."""

from __future__ import annotations

import pytest

from llmgw.bridge.path_template import DeepWildcard, Literal, TemplateError, Variable, Wildcard, parse, tokenize


@pytest.mark.parametrize(
    ("template", "tokens"),
    [
        ("/v1/models", ["/", "v1", "/", "models"]),
        ("/v1/models/{model}", ["/", "v1", "/", "models", "/", "{", "model", "}"]),
        ("/v1/{name=keys/*}", ["/", "v1", "/", "{", "name", "=", "keys", "/", "*", "}"]),
        ("/v1/{a.b=**}:cancel", ["/", "v1", "/", "{", "a", ".", "b", "=", "**", "}", ":", "cancel"]),
        ("/v1.2/x-y_z~", ["/", "v1", ".", "2", "/", "x-y_z~"]),
        ("", []),
    ],
)
def test_tokenize(template: str, tokens: list[str]) -> None:
    """Punctuation and literal runs become tokens, ending with EOF."""
    got = tokenize(template)
    assert [t.text for t in got[:-1]] == tokens
    assert got[-1].kind == "EOF"


@pytest.mark.parametrize(
    ("template", "segments", "variables", "verb"),
    [
        ("/v1/models", [Literal("v1"), Literal("models")], [], None),
        ("/v1/models/{model}", [Literal("v1"), Literal("models"), Wildcard()], [Variable(("model",), 2, 3)], None),
        (
            "/v1/{name=users/*/keys/*}",
            [Literal("v1"), Literal("users"), Wildcard(), Literal("keys"), Wildcard()],
            [Variable(("name",), 1, 5)],
            None,
        ),
        ("/v1/{path.to.field=**}", [Literal("v1"), DeepWildcard()], [Variable(("path", "to", "field"), 1, 2)], None),
        ("/v1/*/x:cancel", [Literal("v1"), Wildcard(), Literal("x")], [], "cancel"),
        ("/v1.2/a.b", [Literal("v1.2"), Literal("a.b")], [], None),
        (
            "/v1/{a}/{b}",
            [Literal("v1"), Wildcard(), Wildcard()],
            [Variable(("a",), 1, 2), Variable(("b",), 2, 3)],
            None,
        ),
    ],
)
def test_parse(template: str, segments: list[object], variables: list[Variable], verb: str | None) -> None:
    """Valid templates parse into segments, variables and a verb."""
    parsed = parse(template)
    assert list(parsed.segments) == segments
    assert list(parsed.variables) == variables
    assert parsed.verb == verb


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("v1/models", "expected '/'"),
        ("/v1/", "expected 'LITERAL'"),
        ("/v1//x", "expected 'LITERAL'"),
        ("/v1/{model", "expected '}'"),
        ("/v1/{a={b}}", "cannot nest"),
        ("/v1/{1a}", "not a field name"),
        ("/v1/**/x", "'**' must be the last segment"),
        ("/v1/{a}/{a}", "bound twice"),
        ("/v1/x:", "expected 'LITERAL'"),
        ("/v1/x:a:b", "expected 'EOF'"),
        ("/v1/x}", "expected 'EOF'"),
    ],
)
def test_parse_errors(template: str, error: str) -> None:
    """Templates that break the grammar fail with a message naming the template."""
    with pytest.raises(TemplateError) as caught:
        parse(template)
    assert error in str(caught.value)
    assert repr(template) in str(caught.value)


@pytest.mark.parametrize(
    ("template", "path", "values"),
    [
        (
            "/v1/models/{model}",
            "v1/models/anthropic.claude-3-haiku-20240307-v1:0",
            {"model": "anthropic.claude-3-haiku-20240307-v1:0"},
        ),
        ("/v1/models/{model}", "v1/models/us.amazon.nova-lite-v1%3A0", {"model": "us.amazon.nova-lite-v1:0"}),
        ("/v1/models/{model}", "v1/models/a%2Fb", {"model": "a/b"}),
        ("/v1/models/{model}", "v1/models", None),
        ("/v1/models/{model}", "v1/models/", None),
        ("/v1/models/{model}", "v1/models/a/b", None),
        ("/v1/models", "v1/models", {}),
        ("/v1/models", "v1/Models", None),
        ("/v1/{name=users/*/keys/*}", "v1/users/me/keys/k1", {"name": "users/me/keys/k1"}),
        ("/v1/{name=users/*/keys/*}", "v1/groups/me/keys/k1", None),
        ("/v1/{rest=**}", "v1/a/b/c", {"rest": "a/b/c"}),
        ("/v1/files/**", "v1/files", {}),
        ("/v1/users/{user}/quota", "v1/users/me/quota", {"user": "me"}),
    ],
)
def test_match(template: str, path: str, values: dict[str, str] | None) -> None:
    """Matching binds decoded values to variables, keeping ':' inside a segment."""
    assert parse(template).match(path.split("/")) == values


def test_openapi_path_and_shape() -> None:
    """Templates render as OpenAPI paths; variable names do not change the shape."""
    assert parse("/v1/{name=users/*}/x:do").openapi_path() == "/v1/{name}/x:do"
    assert parse("/v1/models/{model}").shape() == parse("/v1/models/{id}").shape()
    assert parse("/v1/models/{model}").shape() != parse("/v1/models/{model}:do").shape()
