"""The fake model: a deterministic answer plan for a Converse request.

The same request always yields the same plan, so a stream's deltas concatenate to
the unary answer and usage agrees between the two. Text is split into tokens, each
a word with its leading whitespace; every token is one output token and one
streamed delta.
"""

import hashlib
import json
import re
from dataclasses import dataclass, field

from llmgw.fakebedrock.cache import CacheUsage
from llmgw.fakebedrock.request import ConverseRequest, ToolSpec
from llmgw.fakebedrock.thinking import ThinkingShown

# 64 words, so one hash byte picks a word without bias.
VOCABULARY = (
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
    "quebec",
    "romeo",
    "sierra",
    "tango",
    "uniform",
    "victor",
    "whiskey",
    "xray",
    "yankee",
    "zulu",
    "amber",
    "basalt",
    "cedar",
    "dune",
    "ember",
    "fjord",
    "garnet",
    "harbor",
    "iris",
    "jasper",
    "kelp",
    "lagoon",
    "meadow",
    "nectar",
    "opal",
    "prairie",
    "quartz",
    "river",
    "saffron",
    "tundra",
    "umber",
    "valley",
    "willow",
    "xenon",
    "yarrow",
    "zephyr",
    "acorn",
    "birch",
    "clover",
    "dahlia",
    "elm",
    "fern",
    "grove",
    "heath",
    "ivy",
    "juniper",
    "kestrel",
    "lotus",
)

_TOKEN = re.compile(r"\s*\S+")
REFUSAL_TEXT = "I can't help with that request."
_NO_THINKING = ThinkingShown(0, False)


@dataclass(frozen=True)
class ToolCall:
    """A tool the fake model decided to call; `tokens` is what the call counts as output."""

    tool_use_id: str
    name: str
    input: dict[str, object]

    @property
    def tokens(self) -> int:
        """Output tokens of the call: one per top-level input value, plus one for the call itself."""
        return len(self.input) + 1

    def input_fragments(self) -> list[str]:
        """The input JSON cut into pieces (at least two), as ConverseStream delivers it."""
        text = json.dumps(self.input)
        count = max(2, self.tokens)
        step = -(-len(text) // count)
        return [text[start : start + step] for start in range(0, len(text), step)]


@dataclass(frozen=True)
class AnswerPlan:
    """Everything the fake answers: text tokens, an optional tool call, stop reason and input tokens."""

    text_tokens: tuple[str, ...]
    tool_call: ToolCall | None
    stop_reason: str
    input_tokens: int
    reasoning_tokens: tuple[str, ...] = ()
    reasoning_shown: bool = False
    reasoning_signature: str = ""
    redacted_reasoning: bytes = b""
    cache: CacheUsage = field(default_factory=CacheUsage)
    service_tier: str = "default"

    @property
    def uncached_input_tokens(self) -> int:
        """Bedrock's `inputTokens`: the prompt tokens neither read from nor written to the cache."""
        return self.input_tokens - self.cache.read_tokens - self.cache.write_tokens

    @property
    def text(self) -> str:
        """The answer text, as the unary response carries it."""
        return "".join(self.text_tokens)

    @property
    def reasoning_text(self) -> str:
        """The thinking text as returned: empty when the model hides it (only the signature comes back)."""
        return "".join(self.reasoning_tokens) if self.reasoning_shown else ""

    @property
    def output_tokens(self) -> int:
        """Output tokens billed: thinking (shown or not), text tokens and the tool call's tokens."""
        return len(self.reasoning_tokens) + len(self.text_tokens) + (self.tool_call.tokens if self.tool_call else 0)


def plan_answer(
    request: ConverseRequest,
    output_tokens: int,
    tools_allowed: bool = True,
    thinking: ThinkingShown = _NO_THINKING,
    refuse: bool = False,
    token_chars: int = 0,
) -> AnswerPlan:
    """Decide the answer to `request`, generating `output_tokens` words unless a tool call is due.

    Thinking comes first and counts toward maxTokens; a refusal is a short text with
    stop reason `refusal` (as Fable answers, HTTP 200).
    """
    reasoning: list[str] = []
    if thinking.words:
        reasoning = _TOKEN.findall(" ".join(["Thinking:", *_generated_words(request.seed[::-1], thinking.words - 1)]))
    signature = ""  # signed by the app (signing.py), which holds the key
    if refuse:
        tokens = _TOKEN.findall(REFUSAL_TEXT)
        return AnswerPlan(
            tuple(tokens), None, "refusal", request.input_tokens, tuple(reasoning), thinking.text_shown, signature
        )
    mentions = [f"Tool result: {result}." for result in request.tool_results]
    mentions += [f"Seen image/{image.format} of {image.size} bytes." for image in request.images]
    tool_call = _tool_call(request) if tools_allowed else None
    if tool_call is not None:
        words = [*mentions, f"Calling {tool_call.name}."]
    else:
        words = mentions + [_drawn_out(word, token_chars) for word in _generated_words(request.seed, output_tokens)]
    tokens = _TOKEN.findall(" ".join(words))
    stop_reason = "tool_use" if tool_call else "end_turn"
    budget = None if request.max_tokens is None else max(request.max_tokens - len(reasoning), 0)
    if budget is not None and budget < len(tokens) + (tool_call.tokens if tool_call else 0):
        tokens, tool_call, stop_reason = tokens[:budget], None, "max_tokens"
    cut = _stop_position("".join(tokens), request.stop_sequences)
    if cut is not None:
        tokens, tool_call, stop_reason = _truncate(tokens, cut), None, "stop_sequence"
    return AnswerPlan(
        tuple(tokens), tool_call, stop_reason, request.input_tokens, tuple(reasoning), thinking.text_shown, signature
    )


def _generated_words(seed: bytes, count: int) -> list[str]:
    return [VOCABULARY[byte & 63] for byte in hashlib.shake_256(seed).digest(count)]


def _drawn_out(word: str, chars: int) -> str:
    """`word` repeated to `chars` characters (as it is when `chars` is 0)."""
    return (word * (chars // len(word) + 1))[:chars] if chars else word


def _stop_position(text: str, stop_sequences: tuple[str, ...]) -> int | None:
    found = [position for position in (text.find(stop) for stop in stop_sequences) if position >= 0]
    return min(found) if found else None


def _truncate(tokens: list[str], length: int) -> list[str]:
    kept: list[str] = []
    used = 0
    for token in tokens:
        if used + len(token) >= length:
            if length > used:
                kept.append(token[: length - used])
            break
        kept.append(token)
        used += len(token)
    return kept


def _tool_call(request: ConverseRequest) -> ToolCall | None:
    """The tool the fake calls: the forced one, else the first offered.

    After tool results it answers in text, unless toolChoice `any` makes a call due: then it
    calls the first tool the conversation has not called yet (else the last one offered).
    """
    if not request.tools or not request.ends_with_user or (request.tool_results and not request.must_call_tool):
        return None
    if request.forced_tool:
        tool = next(t for t in request.tools if t.name == request.forced_tool)
    elif request.tool_results:
        tool = next((t for t in request.tools if t.name not in request.called_tools), request.tools[-1])
    else:
        tool = request.tools[0]
    digest = hashlib.blake2b(request.seed + tool.name.encode(), digest_size=11).hexdigest()
    return ToolCall(f"tooluse_{digest}", tool.name, _sample_input(tool))


def _sample_input(tool: ToolSpec) -> dict[str, object]:
    return {name: _sample_value(schema) for name, schema in tool.properties.items()}


def _sample_value(schema: object) -> object:
    if not isinstance(schema, dict):
        return "sample"
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    samples: dict[object, object] = {
        "number": 1,
        "integer": 1,
        "boolean": True,
        "array": [],
        "object": {},
        "null": None,
    }
    return samples.get(kind, "sample")
