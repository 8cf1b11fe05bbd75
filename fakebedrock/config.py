"""Settings of one fake Bedrock: latency, answer length and a fault for every request."""

from collections.abc import Mapping
from dataclasses import dataclass, field

from llmgw.fakebedrock.faults import Fault, parse_fault


@dataclass(frozen=True)
class FakeBedrockConfig:
    """How the fake behaves unless a request's markers say otherwise.

    ttft_ms: delay before the first streamed token (and before a unary answer).
    token_delay_ms: delay between streamed tokens (unary answers wait for all of them).
    output_tokens: generated words per answer, before maxTokens and stop sequences cut it.
    fault: a fault name (see faults.FAULT_NAMES, e.g. "throttle:2") played on every request.
    model_faults: model id -> fault played on requests for that model instead of `fault`
        (one fake per region, with one model failing there, is how routing is tested).
    """

    ttft_ms: float = 0.0
    token_delay_ms: float = 0.0
    output_tokens: int = 24
    fault: str | None = None
    model_faults: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.ttft_ms < 0 or self.token_delay_ms < 0:
            raise ValueError("ttft_ms and token_delay_ms must not be negative")
        if self.output_tokens < 1:
            raise ValueError("output_tokens must be at least 1")
        if self.fault is not None:
            parse_fault(self.fault)
        for text in self.model_faults.values():
            parse_fault(text)

    @property
    def parsed_fault(self) -> Fault | None:
        """The configured fault, parsed."""
        return None if self.fault is None else parse_fault(self.fault)

    def fault_for(self, model_id: str) -> Fault | None:
        """The fault this fake plays for `model_id`: its own one, else the global one."""
        text = self.model_faults.get(model_id, self.fault)
        return None if text is None else parse_fault(text)
