"""The `google.api.http` path-template language: a tokenizer, a recursive-descent parser, a matcher.

Routes are generated from annotations, so their paths are data that must be read exactly as
the grammar says (google/api/http.proto), not guessed at with regular expressions:

    Template = "/" Segments [ Verb ] ;
    Segments = Segment { "/" Segment } ;
    Segment  = "*" | "**" | LITERAL | Variable ;
    Variable = "{" FieldPath [ "=" Segments ] "}" ;
    FieldPath = IDENT { "." IDENT } ;
    Verb     = ":" LITERAL ;

`:` only ever means a verb in a template. In a request path it means a verb only when some
route declares that verb (the router decides), so Bedrock ids such as
`anthropic.claude-3-haiku-20240307-v1:0` bind whole to `{model}`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_PUNCTUATION = frozenset("/{}=*:.")


class TemplateError(ValueError):
    """A path template in an annotation breaks the grammar; building the route table stops on it."""


@dataclass(frozen=True, slots=True)
class Token:
    """One lexical unit of a template: punctuation (`/ { } = * ** : .`) or a LITERAL run."""

    kind: str
    text: str
    position: int


def tokenize(template: str) -> list[Token]:
    """Split a template into tokens, ending with an `EOF` token, so the parser never indexes strings."""
    tokens: list[Token] = []
    i = 0
    while i < len(template):
        char = template[i]
        if char == "*" and template.startswith("**", i):
            tokens.append(Token("**", "**", i))
            i += 2
        elif char in _PUNCTUATION:
            tokens.append(Token(char, char, i))
            i += 1
        else:
            start = i
            while i < len(template) and template[i] not in _PUNCTUATION:
                i += 1
            tokens.append(Token("LITERAL", template[start:i], start))
    tokens.append(Token("EOF", "", len(template)))
    return tokens


@dataclass(frozen=True, slots=True)
class Literal:
    """A segment that must equal `value` exactly (after percent-decoding the request path)."""

    value: str


@dataclass(frozen=True, slots=True)
class Wildcard:
    """`*`: exactly one non-empty segment."""


@dataclass(frozen=True, slots=True)
class DeepWildcard:
    """`**`: zero or more segments; only allowed last."""


Segment = Literal | Wildcard | DeepWildcard


@dataclass(frozen=True, slots=True)
class Variable:
    """A request field bound to the segments `[start, end)` of the template."""

    field_path: tuple[str, ...]
    start: int
    end: int

    @property
    def name(self) -> str:
        """The dotted field path, as the annotation spells it."""
        return ".".join(self.field_path)


@dataclass(frozen=True, slots=True)
class PathTemplate:
    """A parsed template: what a route matches and which request fields its path fills."""

    source: str
    segments: tuple[Segment, ...]
    variables: tuple[Variable, ...]
    verb: str | None

    def shape(self) -> tuple[object, ...]:
        """What the template matches, ignoring variable names: two routes with one shape collide."""
        return (*self.segments, self.verb)

    def specificity(self) -> tuple[int, ...]:
        """A sort key that tries literal segments before wildcards, so `/a/b` beats `/a/{x}`."""
        return tuple(0 if isinstance(s, Literal) else 1 if isinstance(s, Wildcard) else 2 for s in self.segments)

    def match(self, parts: Sequence[str]) -> dict[str, str] | None:
        """Bind the raw (percent-encoded) path segments, or return None when they do not fit."""
        segments = self.segments
        deep = bool(segments) and isinstance(segments[-1], DeepWildcard)
        fixed = len(segments) - 1 if deep else len(segments)
        if len(parts) < fixed or (not deep and len(parts) != fixed):
            return None
        for segment, part in zip(segments[:fixed], parts, strict=False):
            if isinstance(segment, Literal):
                if unquote(part) != segment.value:
                    return None
            elif not part:
                return None
        values: dict[str, str] = {}
        for variable in self.variables:
            end = len(parts) if deep and variable.end == len(segments) else variable.end
            if variable.end - variable.start == 1 and not (deep and variable.end == len(segments)):
                values[variable.name] = unquote(parts[variable.start])
            else:
                values[variable.name] = "/".join(unquote(p) for p in parts[variable.start : end])
        return values

    def openapi_path(self) -> str:
        """The template as an OpenAPI path: one `{name}` per variable, literals and wildcards as they are."""
        out: list[str] = []
        variables = {v.start: v for v in self.variables}
        i = 0
        while i < len(self.segments):
            variable = variables.get(i)
            if variable is not None:
                out.append("{" + variable.name + "}")
                i = max(variable.end, i + 1)
                continue
            segment = self.segments[i]
            out.append(
                segment.value if isinstance(segment, Literal) else "*" if isinstance(segment, Wildcard) else "**"
            )
            i += 1
        return "/" + "/".join(out) + (":" + self.verb if self.verb else "")


class _Parser:
    """Recursive descent over the token list; one method per grammar rule."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.index = 0
        self.segments: list[Segment] = []
        self.variables: list[Variable] = []

    def peek(self) -> Token:
        return self.tokens[self.index]

    def expect(self, kind: str) -> Token:
        token = self.peek()
        if token.kind != kind:
            found = "end of template" if token.kind == "EOF" else repr(token.text)
            raise TemplateError(f"{self.source!r}: expected {kind!r} at {token.position}, found {found}")
        self.index += 1
        return token

    def template(self) -> PathTemplate:
        self.expect("/")
        self.segments_rule(in_variable=False)
        verb = None
        if self.peek().kind == ":":
            self.index += 1
            verb = self.literal()
        self.expect("EOF")
        for i, segment in enumerate(self.segments):
            if isinstance(segment, DeepWildcard) and i != len(self.segments) - 1:
                raise TemplateError(f"{self.source!r}: '**' must be the last segment")
        names = [v.name for v in self.variables]
        if len(set(names)) != len(names):
            raise TemplateError(f"{self.source!r}: a variable is bound twice")
        return PathTemplate(self.source, tuple(self.segments), tuple(self.variables), verb)

    def segments_rule(self, *, in_variable: bool) -> None:
        self.segment(in_variable=in_variable)
        while self.peek().kind == "/":
            self.index += 1
            self.segment(in_variable=in_variable)

    def segment(self, *, in_variable: bool) -> None:
        kind = self.peek().kind
        if kind == "*":
            self.index += 1
            self.segments.append(Wildcard())
        elif kind == "**":
            self.index += 1
            self.segments.append(DeepWildcard())
        elif kind == "{":
            if in_variable:
                raise TemplateError(f"{self.source!r}: variables cannot nest")
            self.variable()
        else:
            self.segments.append(Literal(self.literal()))

    def variable(self) -> None:
        self.expect("{")
        path = [self.ident()]
        while self.peek().kind == ".":
            self.index += 1
            path.append(self.ident())
        start = len(self.segments)
        if self.peek().kind == "=":
            self.index += 1
            self.segments_rule(in_variable=True)
        else:
            self.segments.append(Wildcard())
        self.expect("}")
        self.variables.append(Variable(tuple(path), start, len(self.segments)))

    def ident(self) -> str:
        token = self.expect("LITERAL")
        if not _IDENT.match(token.text):
            raise TemplateError(f"{self.source!r}: {token.text!r} is not a field name")
        return token.text

    def literal(self) -> str:
        """A LITERAL, where `.` is an ordinary character (`v1.2`, `models.list`)."""
        parts = [self.expect("LITERAL").text]
        while self.peek().kind == "." and self.tokens[self.index + 1].kind == "LITERAL":
            parts.append(".")
            parts.append(self.tokens[self.index + 1].text)
            self.index += 2
        return "".join(parts)


def parse(template: str) -> PathTemplate:
    """Parse one `google.api.http` path template; raises TemplateError naming the template."""
    return _Parser(template).template()
