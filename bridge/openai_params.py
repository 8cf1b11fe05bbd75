"""OpenAI chat parameters Bedrock cannot honour: refused by name, never silently dropped.

The bridge ignores JSON fields the proto does not model (STYLE.md: the SDKs send fields we
do not model), which used to include parameters that change the answer: `seed`, `logprobs`,
`logit_bias`, ... A request using one got a 200 and an answer that quietly did not do what
was asked. So, for `POST /v1/chat/completions`, each such parameter with a value that would
make a difference is a 400 naming it; its neutral value (`logprobs: false`,
`frequency_penalty: 0`, `null`, ...) passes, since clients send those by default. With
DROP_UNSUPPORTED_PARAMS the parameters are removed instead, for clients that cannot be
changed.
"""

from __future__ import annotations

from collections.abc import Callable

from llmgw.bridge.errors import ClientError

CHAT_PATH = "/v1/chat/completions"


def _falsy(value: object) -> bool:
    return value is None or value is False or value == 0 or value == {} or value == []


def _text_only(value: object) -> bool:
    return value is None or value == ["text"]


def _parallel_allowed(value: object) -> bool:
    return value is None or value is True


# parameter -> whether a value is neutral (makes no difference to the answer)
UNSUPPORTED: dict[str, Callable[[object], bool]] = {
    "seed": lambda value: value is None,
    "logprobs": _falsy,
    "top_logprobs": _falsy,
    "logit_bias": _falsy,
    "presence_penalty": _falsy,
    "frequency_penalty": _falsy,
    "prediction": lambda value: value is None,
    "audio": lambda value: value is None,
    "modalities": _text_only,
    "web_search_options": lambda value: value is None,
    "parallel_tool_calls": _parallel_allowed,
}


def check_chat_params(body: object, drop: bool) -> object:
    """The chat body with no parameter Bedrock cannot honour; ClientError (400) naming the first, unless `drop`."""
    if not isinstance(body, dict):
        return body
    used = sorted(name for name, neutral in UNSUPPORTED.items() if name in body and not neutral(body[name]))
    if not used:
        return body
    if drop:
        return {name: value for name, value in body.items() if name not in used}
    names = ", ".join(used)
    raise ClientError(
        f"{names}: not supported by this gateway (Amazon Bedrock cannot honour "
        f"{'it' if len(used) == 1 else 'them'}); remove {'it' if len(used) == 1 else 'them'}, "
        "or ask the operator to set DROP_UNSUPPORTED_PARAMS",
        param=used[0],
        code="unsupported_parameter",
    )
