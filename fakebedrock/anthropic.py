"""The fake model behind Bedrock's Anthropic paths: InvokeModel bodies and the native Messages route.

Reads Bedrock's Anthropic request (`anthropic_version: "bedrock-2023-05-31"` on InvokeModel,
`model` on `/anthropic/v1/messages`), rejects what Bedrock rejects (a beta the model does not
accept is a 400 "invalid beta flag"; thinking, sampling or forced tool use the model refuses,
by thinking.py's rules; a thinking block whose signature is not the one the fake issued), and
answers with the same deterministic plan as Converse (responder.py), shaped as Anthropic's
Message or its stream events. Thinking comes first and is signed (its text empty where the
model hides it); `cache_control` breakpoints write the prefix up to the last one to a cache the
app keeps, and a later request with the same prefix reads it, as Bedrock reports both in usage.
"""

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from llmgw.fakebedrock.errors import invalid
from llmgw.fakebedrock.request import ConverseRequest, ImageInfo, ToolSpec, count_words
from llmgw.fakebedrock.responder import AnswerPlan, plan_answer
from llmgw.fakebedrock.thinking import ThinkingShown, check_request

BEDROCK_VERSION = "bedrock-2023-05-31"
#: The betas Bedrock Runtime accepts for Claude (reference section 10.5, runtime column).
RUNTIME_BETAS = frozenset(
    {
        "context-1m-2025-08-07",
        "effort-2025-11-24",
        "computer-use-2025-01-24",
        "computer-use-2025-11-24",
        "fine-grained-tool-streaming-2025-05-14",
        "thinking-binding-controls-2026-08-01",
        "thinking-display-updates-2026-08-18",
        "compact-2026-01-12",
        "context-management-2025-06-27",
        "dangerous-tool-use-2026-09-03",
        "tool-search-tool-2025-10-19",
        "mid-conversation-output-config-2026-07-01",
        "mid-conversation-tool-changes-2026-07-01",
    }
)
#: Models whose runtime CountTokens is refused (the cards give them count_tokens on mantle only).
NO_COUNT_TOKENS = ("claude-opus-4-7", "claude-opus-4-8", "claude-sonnet-5", "claude-fable", "claude-opus-5")
#: The native route's `anthropic-version` values (reference 10.7); 2026-10-21 has no sampling parameters.
NATIVE_VERSIONS = ("2023-06-01", "2026-10-21")
_SAMPLING_REMOVED_IN_2026 = ("temperature", "top_p", "top_k")
_SIGNING_KEY = b"fake-bedrock-thinking"


def is_anthropic_model(model_id: str) -> bool:
    """Whether the id names a Claude model (bare, profile or ARN)."""
    return "anthropic.claude" in model_id


def check_native_version(version: str, payload: object) -> None:
    """Refuse, as Bedrock does, an unknown `anthropic-version` or a sampling parameter 2026-10-21 has no more.

    A request without the header is served as 2023-06-01 (whether Bedrock requires it is unconfirmed).
    """
    if version and version not in NATIVE_VERSIONS:
        raise invalid(f"anthropic-version: {version!r} is not a supported API version.")
    if version == NATIVE_VERSIONS[1] and isinstance(payload, dict):
        for name in _SAMPLING_REMOVED_IN_2026:
            if name in payload:
                raise invalid(f"{name}: Extra inputs are not permitted in API version {version}.")


def sign(thinking: str) -> str:
    """The signature the fake gives a thinking text (and checks when it comes back)."""
    return base64.b64encode(hmac.new(_SIGNING_KEY, thinking.encode(), hashlib.sha256).digest()).decode()


@dataclass(frozen=True)
class AnthropicRequest:
    """A valid Anthropic request: the Converse-shaped view the planner reads, and the extras."""

    converse: ConverseRequest
    thinking: ThinkingShown
    betas: tuple[str, ...]
    cache_prefix_tokens: int
    cache_key: bytes


def parse(payload: object, model_id: str, *, native: bool, count_only: bool = False) -> AnthropicRequest:
    """Check an Anthropic body as Bedrock would; raises a ValidationException for what it rejects.

    Thinking, sampling and forced tool use are checked against the model's rules by
    `thinking.check_request`, the same rules the Converse paths apply.
    """
    if not isinstance(payload, dict):
        raise invalid("Malformed input request: expected a JSON object.")
    if native:
        if not isinstance(payload.get("model"), str):
            raise invalid("model: Field required")
    elif not count_only and payload.get("anthropic_version") != BEDROCK_VERSION:
        raise invalid(f"anthropic_version: must be {BEDROCK_VERSION!r}")
    betas = payload.get("anthropic_beta", [])
    if not isinstance(betas, list) or not all(isinstance(beta, str) for beta in betas):
        raise invalid("anthropic_beta: expected a list of strings")
    for beta in betas:
        if beta not in RUNTIME_BETAS:
            raise invalid(f"invalid beta flag: {beta}")
    max_tokens = payload.get("max_tokens")
    if not count_only and (not isinstance(max_tokens, int) or max_tokens < 1):
        raise invalid("max_tokens: Field required (a positive integer)")
    shown = check_request(model_id, _converse_view(payload), max_tokens if isinstance(max_tokens, int) else None)
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid("messages: at least one message is required")
    texts: list[str] = []
    images: list[ImageInfo] = []
    tool_results: list[str] = []
    breakpoint_tokens, running = 0, 0
    prefix_parts: list[object] = []
    cache_prefix: list[object] = []

    def take(block: object, where: str) -> None:
        nonlocal breakpoint_tokens, running, cache_prefix
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise invalid(f"{where}: each block needs a type")
        tokens = _block_words(block, texts, images)
        running += tokens
        prefix_parts.append({k: v for k, v in block.items() if k != "cache_control"})
        if "cache_control" in block:
            breakpoint_tokens, cache_prefix = running, list(prefix_parts)

    tools = payload.get("tools", [])
    for index, tool in enumerate(tools if isinstance(tools, list) else []):
        if isinstance(tool, dict):
            take({"type": "tool", **tool}, f"tools[{index}]")
    system = payload.get("system", [])
    if isinstance(system, str):
        system = [{"type": "text", "text": system}]
    for index, block in enumerate(system if isinstance(system, list) else []):
        take(block, f"system[{index}]")
    expected = "user"
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") != expected:
            raise invalid(f"messages[{index}]: roles must alternate, starting with user")
        content = message.get("content")
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        if not isinstance(content, list):
            raise invalid(f"messages[{index}].content: expected a string or a list of blocks")
        for position, block in enumerate(content):
            where = f"messages[{index}].content[{position}]"
            take(block, where)
            _check_thinking(block, expected, where)
            if expected == "user" and index == len(messages) - 1 and block.get("type") == "tool_result":
                tool_results.append(_result_text(block.get("content")))
        expected = "assistant" if expected == "user" else "user"
    specs = tuple(_tool_spec(tool) for tool in (tools if isinstance(tools, list) else []) if isinstance(tool, dict))
    choice = payload.get("tool_choice")
    forced = choice.get("name") if isinstance(choice, dict) and choice.get("type") == "tool" else None
    stops = payload.get("stop_sequences", [])
    # The same request answers alike streamed or not, as on Converse.
    canonical = json.dumps({k: v for k, v in payload.items() if k != "stream"}, sort_keys=True, separators=(",", ":"))
    converse = ConverseRequest(
        seed=hashlib.blake2b(canonical.encode(), digest_size=16).digest(),
        input_tokens=running,
        prompt=" ".join(texts),
        ends_with_user=messages[-1].get("role") == "user",
        images=tuple(images),
        tool_results=tuple(tool_results),
        tools=specs,
        forced_tool=forced if isinstance(forced, str) else None,
        max_tokens=max_tokens if isinstance(max_tokens, int) else None,
        stop_sequences=tuple(s for s in stops if isinstance(s, str)) if isinstance(stops, list) else (),
    )
    key = hashlib.blake2b(json.dumps(cache_prefix, sort_keys=True).encode(), digest_size=16).digest()
    return AnthropicRequest(
        converse=converse,
        thinking=shown,
        betas=tuple(betas),
        cache_prefix_tokens=breakpoint_tokens,
        cache_key=key,
    )


def _converse_view(payload: dict[str, object]) -> dict[str, object]:
    """The parts of an Anthropic body the thinking rules read, in the Converse shape they take."""
    extra = {key: payload[key] for key in ("thinking", "output_config") if key in payload}
    sampling = {
        name: payload[key] for key, name in (("temperature", "temperature"), ("top_p", "topP")) if key in payload
    }
    view: dict[str, object] = {"additionalModelRequestFields": extra, "inferenceConfig": sampling}
    choice = payload.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") in ("any", "tool"):
        view["toolConfig"] = {"toolChoice": {str(choice["type"]): {}}}
    return view


def _block_words(block: dict[str, object], texts: list[str], images: list[ImageInfo]) -> int:
    kind = block["type"]
    if kind == "image":
        source = block.get("source")
        data = source.get("data") if isinstance(source, dict) else None
        size = len(base64.b64decode(data)) if isinstance(data, str) else 0
        media = source.get("media_type") if isinstance(source, dict) else None
        images.append(ImageInfo(str(media or "image/png").split("/")[-1], size))
        return 85
    text = " ".join(
        str(value)
        for key, value in block.items()
        if key in ("text", "thinking", "name", "description") and isinstance(value, str)
    )
    for key in ("input", "input_schema"):
        if key in block:
            text += " " + json.dumps(block[key])
    if "content" in block:
        text += " " + _result_text(block["content"])
    texts.append(text)
    return count_words(text)


def _result_text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
    return ""


def _check_thinking(block: dict[str, object], role: str, where: str) -> None:
    if block.get("type") != "thinking":
        return
    if role != "assistant":
        raise invalid(f"{where}: thinking blocks may appear only in assistant turns")
    thinking, signature = block.get("thinking"), block.get("signature")
    if not isinstance(thinking, str) or not isinstance(signature, str) or sign(thinking) != signature:
        raise invalid(f"{where}: Invalid `signature` in `thinking` block")


def _tool_spec(tool: dict[str, object]) -> ToolSpec:
    schema = tool.get("input_schema")
    properties = schema.get("properties") if isinstance(schema, dict) else None
    return ToolSpec(str(tool.get("name", "")), properties if isinstance(properties, dict) else {})


@dataclass(frozen=True)
class Answer:
    """The plan plus what the Anthropic shape adds: thinking and cache usage."""

    plan: AnswerPlan
    thinking: str | None
    usage: dict[str, int]


def answer(
    request: AnthropicRequest, output_tokens: int, tools_allowed: bool, refuse: bool, cache: set[bytes]
) -> Answer:
    """Plan the answer and its usage; writes (or reads) the prompt cache."""
    plan = plan_answer(request.converse, output_tokens, tools_allowed, request.thinking, refuse)
    thinking = plan.reasoning_text if plan.reasoning_tokens else None
    cached = request.cache_prefix_tokens
    read = write = 0
    if cached:
        if request.cache_key in cache:
            read = cached
        else:
            write = cached
            cache.add(request.cache_key)
    usage = {
        "input_tokens": request.converse.input_tokens - cached,
        "output_tokens": plan.output_tokens,
        "cache_creation_input_tokens": write,
        "cache_read_input_tokens": read,
    }
    return Answer(plan, thinking, usage)


def message(result: Answer, model_id: str, message_id: str) -> dict[str, object]:
    """Anthropic's Message body for an answer."""
    plan = result.plan
    content: list[dict[str, object]] = []
    if result.thinking is not None:
        content.append({"type": "thinking", "thinking": result.thinking, "signature": sign(result.thinking)})
    if plan.text_tokens or plan.tool_call is None:
        content.append({"type": "text", "text": plan.text})
    if plan.tool_call is not None:
        call = plan.tool_call
        content.append({"type": "tool_use", "id": call.tool_use_id, "name": call.name, "input": call.input})
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model_id,
        "content": content,
        "stop_reason": plan.stop_reason,
        "stop_sequence": None,
        "usage": result.usage,
    }


def events(result: Answer, model_id: str, message_id: str) -> list[tuple[dict[str, object], bool]]:
    """Anthropic's stream events for an answer, each with whether it is a paced token."""
    plan = result.plan
    start_usage = {**result.usage, "output_tokens": 1}
    start = {**message(result, model_id, message_id), "content": [], "stop_reason": None, "usage": start_usage}
    out: list[tuple[dict[str, object], bool]] = [({"type": "message_start", "message": start}, False)]
    out.append(({"type": "ping"}, False))
    index = 0

    def block(first: dict[str, object], deltas: Sequence[Mapping[str, object]]) -> None:
        nonlocal index
        out.append(({"type": "content_block_start", "index": index, "content_block": first}, False))
        out.extend(({"type": "content_block_delta", "index": index, "delta": delta}, True) for delta in deltas)
        out.append(({"type": "content_block_stop", "index": index}, False))
        index += 1

    if result.thinking is not None:
        words = plan.reasoning_tokens if plan.reasoning_shown else ()
        deltas = [{"type": "thinking_delta", "thinking": word} for word in words]
        deltas.append({"type": "signature_delta", "signature": sign(result.thinking)})
        block({"type": "thinking", "thinking": "", "signature": ""}, deltas)
    if plan.text_tokens or plan.tool_call is None:
        block({"type": "text", "text": ""}, [{"type": "text_delta", "text": token} for token in plan.text_tokens])
    if plan.tool_call is not None:
        call = plan.tool_call
        fragments = [{"type": "input_json_delta", "partial_json": part} for part in call.input_fragments()]
        block({"type": "tool_use", "id": call.tool_use_id, "name": call.name, "input": {}}, fragments)
    delta = {"stop_reason": plan.stop_reason, "stop_sequence": None}
    out.append(
        ({"type": "message_delta", "delta": delta, "usage": {"output_tokens": result.usage["output_tokens"]}}, False)
    )
    return out


def invocation_metrics(result: Answer, latency_ms: int) -> dict[str, int]:
    """The `amazon-bedrock-invocationMetrics` InvokeModelWithResponseStream adds to `message_stop`."""
    return {
        "inputTokenCount": result.usage["input_tokens"],
        "outputTokenCount": result.usage["output_tokens"],
        "invocationLatency": latency_ms,
        "firstByteLatency": latency_ms,
    }
