"""Reading a Converse / ConverseStream body, rejecting what Bedrock would reject.

The checks mirror Bedrock's own ValidationExceptions (roles must alternate starting
with a user, tool blocks need a toolConfig, tool results must answer the previous
tool calls, ...) so a gateway that translates requests badly fails against the fake
the way it would fail against AWS.
"""

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass, field

from llmgw.fakebedrock.cache import TTL_SECONDS, CachePoint
from llmgw.fakebedrock.errors import invalid

# Input tokens charged for each image, whatever its size.
IMAGE_TOKENS = 85

_IMAGE_FORMATS = frozenset({"png", "jpeg", "gif", "webp"})
_TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
# Bedrock's limit on cache points per request (system, messages and tools together).
MAX_CACHE_POINTS = 4
SERVICE_TIERS = ("priority", "default", "flex", "reserved")


@dataclass(frozen=True)
class ImageInfo:
    """An image that arrived in the prompt: its format and decoded size, which the answer reports."""

    format: str
    size: int


@dataclass(frozen=True)
class ToolSpec:
    """A tool the caller offers: its name and the JSON-schema properties of its input."""

    name: str
    properties: dict[str, object]


@dataclass(frozen=True)
class ReasoningBlock:
    """A reasoning block sent back in an assistant turn: signed text, or redacted bytes."""

    where: str
    text: str = ""
    signature: object = None
    redacted: bytes | None = None


@dataclass(frozen=True)
class ConverseRequest:
    """The parts of a valid Converse request that shape the fake's answer."""

    seed: bytes
    input_tokens: int
    prompt: str
    ends_with_user: bool
    images: tuple[ImageInfo, ...]
    tool_results: tuple[str, ...]
    tools: tuple[ToolSpec, ...]
    forced_tool: str | None
    max_tokens: int | None
    stop_sequences: tuple[str, ...]
    cache_points: tuple[CachePoint, ...] = ()
    reasoning_blocks: tuple[ReasoningBlock, ...] = ()
    # The first block of the last assistant turn when that turn called tools and was answered
    # with tool results (what thinking models check); "" otherwise.
    tool_turn_opens_with: str = ""
    service_tier: str = "default"
    # toolChoice `any`: a tool call is due even after tool results; `called_tools` are the names
    # of the tools the conversation has called already, in order.
    must_call_tool: bool = False
    called_tools: tuple[str, ...] = ()


@dataclass
class _Message:
    role: str
    tokens: int = 0
    block_tokens: list[int] = field(default_factory=list)
    reasoning: list[ReasoningBlock] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    images: list[ImageInfo] = field(default_factory=list)
    tool_results: list[str] = field(default_factory=list)
    tool_use_ids: set[str] = field(default_factory=set)
    tool_use_names: list[str] = field(default_factory=list)
    tool_result_ids: list[str] = field(default_factory=list)


def parse_converse(body: object) -> ConverseRequest:
    """Validate a Converse body and extract what the answer depends on; raises a ValidationException."""
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise invalid("messages must be a non-empty list.")
    raw_system = body.get("system", [])
    if not isinstance(raw_system, list):
        raise invalid("system must be a list of content blocks.")
    messages = [_read_message(index, message) for index, message in enumerate(raw_messages)]
    _check_tool_results(messages)
    tools, forced_tool = _read_tool_config(body.get("toolConfig"))
    if not tools and any(m.tool_use_ids or m.tool_result_ids for m in messages):
        raise invalid("The toolConfig field must be defined when using toolUse and toolResult content blocks.")
    max_tokens, stop_sequences = _read_inference_config(body.get("inferenceConfig", {}))
    last_user = next(m for m in reversed(messages) if m.role == "user")
    last = messages[-1]
    cache_points = _cache_points(body.get("toolConfig"), raw_system, raw_messages, messages)
    canonical = json.dumps([raw_system, raw_messages], sort_keys=True, separators=(",", ":"))
    return ConverseRequest(
        seed=hashlib.blake2b(canonical.encode(), digest_size=16).digest(),
        input_tokens=sum(_system_tokens(block) for block in raw_system) + sum(m.tokens for m in messages),
        prompt="\n".join(last_user.texts),
        ends_with_user=last.role == "user",
        images=tuple(last.images) if last.role == "user" else (),
        tool_results=tuple(last.tool_results) if last.role == "user" else (),
        tools=tools,
        forced_tool=forced_tool,
        max_tokens=max_tokens,
        stop_sequences=stop_sequences,
        cache_points=cache_points,
        reasoning_blocks=tuple(block for m in messages for block in m.reasoning),
        tool_turn_opens_with=_tool_turn_opening(raw_messages, messages),
        service_tier=_service_tier(body.get("serviceTier")),
        must_call_tool=_chooses_any(body.get("toolConfig")),
        called_tools=tuple(name for m in messages for name in m.tool_use_names),
    )


def count_words(text: str) -> int:
    """The fake's token count of a text: its whitespace-separated words."""
    return len(text.split())


def _system_tokens(block: object) -> int:
    if not isinstance(block, dict):
        raise invalid("system blocks must be objects.")
    text = block.get("text")
    if text is None:
        return 0
    if not isinstance(text, str) or not text.strip():
        raise invalid("system text blocks must be non-blank strings.")
    return count_words(text)


def _read_message(index: int, raw: object) -> _Message:
    where = f"messages.{index}"
    if not isinstance(raw, dict):
        raise invalid(f"{where} must be an object.")
    role = raw.get("role")
    expected = "user" if index % 2 == 0 else "assistant"
    if role != expected:
        raise invalid("A conversation must start with a user message and alternate between user and assistant roles.")
    content = raw.get("content")
    if not isinstance(content, list) or not content:
        raise invalid(f"{where}.content must be a non-empty list.")
    message = _Message(role)
    for position, block in enumerate(content):
        before = message.tokens
        _read_block(message, f"{where}.content.{position}", block)
        message.block_tokens.append(message.tokens - before)
    if all(isinstance(block, dict) and "cachePoint" in block for block in content):
        raise invalid(f"{where}.content must contain a content block besides cache points.")
    return message


def _read_block(message: _Message, where: str, block: object) -> None:
    if not isinstance(block, dict) or not block:
        raise invalid(f"{where} must be a non-empty object.")
    if "text" in block:
        text = block["text"]
        if not isinstance(text, str) or not text.strip():
            raise invalid(f"{where}.text must be a non-blank string.")
        message.texts.append(text)
        message.tokens += count_words(text)
    elif "image" in block:
        message.images.append(_read_image(where, block["image"]))
        message.tokens += IMAGE_TOKENS
    elif "toolUse" in block:
        if message.role != "assistant":
            raise invalid(f"{where}: toolUse blocks belong in assistant messages.")
        tool_use = block["toolUse"]
        if not isinstance(tool_use, dict) or not all(isinstance(tool_use.get(k), str) for k in ("toolUseId", "name")):
            raise invalid(f"{where}.toolUse needs a toolUseId and a name.")
        message.tool_use_ids.add(tool_use["toolUseId"])
        message.tool_use_names.append(tool_use["name"])
        message.tokens += count_words(json.dumps(tool_use.get("input", {})))
    elif "toolResult" in block:
        if message.role != "user":
            raise invalid(f"{where}: toolResult blocks belong in user messages.")
        text = _read_tool_result(where, block["toolResult"], message)
        message.tool_results.append(text)
        message.tokens += count_words(text)
    elif "reasoningContent" in block:
        if message.role != "assistant":
            raise invalid(f"{where}: reasoningContent blocks belong in assistant messages.")
        message.reasoning.append(_read_reasoning(where, block["reasoningContent"]))
        message.tokens += count_words(message.reasoning[-1].text)


def _read_reasoning(where: str, content: object) -> ReasoningBlock:
    where = f"{where}.reasoningContent"
    if not isinstance(content, dict) or len(content) != 1:
        raise invalid(f"{where} must hold exactly one of reasoningText or redactedContent.")
    if "redactedContent" in content:
        data = content["redactedContent"]
        try:
            raw = base64.b64decode(data, validate=True) if isinstance(data, str) else b""
        except (binascii.Error, ValueError):
            raw = b""
        if not raw:
            raise invalid(f"{where}.redactedContent must be non-empty base64 bytes.")
        return ReasoningBlock(where, redacted=raw)
    text = content.get("reasoningText")
    if not isinstance(text, dict) or not isinstance(text.get("text"), str):
        raise invalid(f"{where}.reasoningText needs a text.")
    return ReasoningBlock(f"{where}.reasoningText", text["text"], text.get("signature"))


def _read_cache_point(where: str, block: dict[str, object]) -> str:
    """The TTL of a valid cachePoint block; raises a ValidationException for a malformed one."""
    point = block["cachePoint"]
    if len(block) != 1 or not isinstance(point, dict) or point.get("type") != "default":
        raise invalid(f'{where}.cachePoint must be {{"type": "default"}} with an optional ttl.')
    ttl = point.get("ttl", "5m")
    if ttl not in TTL_SECONDS or set(point) - {"type", "ttl"}:
        raise invalid(f"{where}.cachePoint.ttl must be one of {', '.join(TTL_SECONDS)}.")
    return str(ttl)


def _cache_points(
    tool_config: object, system: list[object], raw_messages: list[object], messages: list[_Message]
) -> tuple[CachePoint, ...]:
    """The request's cache points in prompt order (tools, system, messages), each with its prefix.

    A cache point must follow a content block of its own list; there are at most
    MAX_CACHE_POINTS; and a 1h point may not come after a 5m one (longer TTLs first).
    """
    digest = hashlib.blake2b(digest_size=16)
    tokens = 0
    points: list[CachePoint] = []
    tools = tool_config.get("tools", []) if isinstance(tool_config, dict) else []
    lists: list[tuple[str, list[object], list[int]]] = [
        ("toolConfig.tools", tools, [0] * len(tools)),
        ("system", system, [_system_tokens(block) for block in system]),
    ]
    for index, raw in enumerate(raw_messages):
        content = raw.get("content", []) if isinstance(raw, dict) else []
        lists.append((f"messages.{index}.content", content, messages[index].block_tokens))
    for where, blocks, block_tokens in lists:
        previous_was_block = False
        for position, block in enumerate(blocks):
            if isinstance(block, dict) and "cachePoint" in block:
                ttl = _read_cache_point(f"{where}.{position}", block)
                if not previous_was_block:
                    raise invalid(
                        f"{where}.{position}: a cachePoint must come right after a content block of the same list."
                    )
                if ttl == "1h" and any(point.ttl == "5m" for point in points):
                    raise invalid(
                        f"{where}.{position}: a cachePoint with ttl 1h cannot come after one with ttl 5m; "
                        "longer TTLs must come first."
                    )
                points.append(CachePoint(digest.copy().digest(), tokens, ttl))
                previous_was_block = False
                continue
            digest.update(json.dumps(block, sort_keys=True, separators=(",", ":")).encode())
            tokens += block_tokens[position]
            previous_was_block = True
    if len(points) > MAX_CACHE_POINTS:
        raise invalid(
            f"The request has {len(points)} cache points; at most {MAX_CACHE_POINTS} are allowed "
            "across system, messages and tools."
        )
    return tuple(points)


def _tool_turn_opening(raw_messages: list[object], messages: list[_Message]) -> str:
    """The kind of the first block of the last assistant turn, when it called tools that were answered."""
    if len(messages) < 2 or not messages[-1].tool_result_ids or not messages[-2].tool_use_ids:
        return ""
    raw = raw_messages[-2]
    content = raw.get("content", []) if isinstance(raw, dict) else []
    first = content[0] if content and isinstance(content[0], dict) else {}
    return next(iter(first), "")


def _service_tier(raw: object) -> str:
    if raw is None:
        return "default"
    if not isinstance(raw, dict) or raw.get("type") not in SERVICE_TIERS:
        raise invalid(f"serviceTier.type must be one of {', '.join(SERVICE_TIERS)}.")
    return str(raw["type"])


def _read_image(where: str, image: object) -> ImageInfo:
    if not isinstance(image, dict) or image.get("format") not in _IMAGE_FORMATS:
        raise invalid(f"{where}.image.format must be one of {', '.join(sorted(_IMAGE_FORMATS))}.")
    source = image.get("source")
    data = source.get("bytes") if isinstance(source, dict) else None
    if not isinstance(data, str):
        raise invalid(f"{where}.image.source.bytes is required by this fake.")
    try:
        size = len(base64.b64decode(data, validate=True))
    except (binascii.Error, ValueError):
        raise invalid(f"{where}.image.source.bytes is not valid base64.") from None
    if size == 0:
        raise invalid(f"{where}.image.source.bytes is empty.")
    return ImageInfo(str(image["format"]), size)


def _read_tool_result(where: str, result: object, message: _Message) -> str:
    if not isinstance(result, dict) or not isinstance(result.get("toolUseId"), str):
        raise invalid(f"{where}.toolResult needs a toolUseId.")
    content = result.get("content")
    if not isinstance(content, list):
        raise invalid(f"{where}.toolResult.content must be a list.")
    parts: list[str] = []
    for item in content:
        if not isinstance(item, dict):
            raise invalid(f"{where}.toolResult.content items must be objects.")
        if isinstance(item.get("text"), str):
            parts.append(item["text"])
        elif "json" in item:
            parts.append(json.dumps(item["json"]))
    message.tool_result_ids.append(result["toolUseId"])
    return " ".join(parts)


def _check_tool_results(messages: list[_Message]) -> None:
    for index, message in enumerate(messages):
        offered = messages[index - 1].tool_use_ids if index else set()
        unknown = [tool_id for tool_id in message.tool_result_ids if tool_id not in offered]
        if unknown:
            raise invalid(
                f"messages.{index}: toolResult blocks reference unknown toolUseIds {unknown}; "
                "each must answer a toolUse of the previous assistant message."
            )


def _read_tool_config(raw: object) -> tuple[tuple[ToolSpec, ...], str | None]:
    if raw is None:
        return (), None
    if not isinstance(raw, dict) or not isinstance(raw.get("tools"), list) or not raw["tools"]:
        raise invalid("toolConfig.tools must be a non-empty list.")
    tools: list[ToolSpec] = []
    for index, entry in enumerate(raw["tools"]):
        if not isinstance(entry, dict):
            raise invalid(f"toolConfig.tools.{index} must be an object.")
        if "toolSpec" in entry:
            tools.append(_read_tool_spec(index, entry["toolSpec"]))
    names = [tool.name for tool in tools]
    if len(set(names)) != len(names):
        raise invalid("toolConfig.tools has duplicate tool names.")
    choice = raw.get("toolChoice")
    if choice is None or (isinstance(choice, dict) and ("auto" in choice or "any" in choice)):
        return tuple(tools), None
    forced = choice.get("tool") if isinstance(choice, dict) else None
    name = forced.get("name") if isinstance(forced, dict) else None
    if name not in names:
        raise invalid("toolConfig.toolChoice must be auto, any, or tool with the name of a defined tool.")
    return tuple(tools), str(name)


def _chooses_any(raw: object) -> bool:
    """Whether a (valid) toolConfig's toolChoice is `any`."""
    choice = raw.get("toolChoice") if isinstance(raw, dict) else None
    return isinstance(choice, dict) and "any" in choice


def _read_tool_spec(index: int, spec: object) -> ToolSpec:
    where = f"toolConfig.tools.{index}.toolSpec"
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not _TOOL_NAME.fullmatch(spec["name"]):
        raise invalid(f"{where}.name must match [a-zA-Z0-9_-]{{1,64}}.")
    schema = spec.get("inputSchema")
    document = schema.get("json") if isinstance(schema, dict) else None
    if not isinstance(document, dict):
        raise invalid(f"{where}.inputSchema.json must be a JSON schema object.")
    properties = document.get("properties", {})
    if not isinstance(properties, dict):
        raise invalid(f"{where}.inputSchema.json.properties must be an object.")
    return ToolSpec(spec["name"], properties)


def _read_inference_config(raw: object) -> tuple[int | None, tuple[str, ...]]:
    if not isinstance(raw, dict):
        raise invalid("inferenceConfig must be an object.")
    max_tokens = raw.get("maxTokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1):
        raise invalid("inferenceConfig.maxTokens must be an integer of at least 1.")
    for name in ("temperature", "topP"):
        value = raw.get(name)
        if value is not None and (not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1):
            raise invalid(f"inferenceConfig.{name} must be a number between 0 and 1.")
    stops = raw.get("stopSequences", [])
    if not isinstance(stops, list) or not all(isinstance(stop, str) and stop for stop in stops):
        raise invalid("inferenceConfig.stopSequences must be a list of non-empty strings.")
    return max_tokens, tuple(stops)
