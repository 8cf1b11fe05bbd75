"""InvokeModel for embedding models: Titan Text Embeddings v1/v2 and Cohere Embed bodies.

Vectors are unit length and derived from a hash of the text, so the same text always
embeds to the same vector and different texts to different ones.
"""

import array
import functools
import hashlib
import math
import uuid
from dataclasses import dataclass

from llmgw.fakebedrock.errors import invalid
from llmgw.fakebedrock.request import count_words

TITAN_V2_DIMENSIONS = (256, 512, 1024)
TITAN_V1_DIMENSIONS = 1536
COHERE_DIMENSIONS = 1024
COHERE_MAX_TEXTS = 96

_TITAN_V2_KEYS = frozenset({"inputText", "dimensions", "normalize", "embeddingTypes"})
_COHERE_KEYS = frozenset({"texts", "images", "input_type", "truncate", "embedding_types"})
_COHERE_INPUT_TYPES = frozenset({"search_document", "search_query", "classification", "clustering"})
_COHERE_TYPES = frozenset({"float", "int8", "uint8", "binary", "ubinary"})


@dataclass(frozen=True)
class Embedding:
    """An InvokeModel answer: the JSON body, the texts it embedded, and its input token count."""

    body: dict[str, object]
    texts: tuple[str, ...]
    input_tokens: int


def embedding_family(model_id: str) -> str | None:
    """Which request shape an embedding model id takes ("titan-v2", "titan-v1", "cohere"), else None."""
    if "amazon.titan-embed-text-v2" in model_id:
        return "titan-v2"
    if "amazon.titan-embed-text-v1" in model_id or "amazon.titan-embed-g1-text" in model_id:
        return "titan-v1"
    if "cohere.embed-" in model_id:
        return "cohere"
    return None


def is_embedding_model(model_id: str) -> bool:
    """True for ids that name an embedding model, which Converse refuses."""
    return "embed" in model_id


def embed(family: str, body: object) -> Embedding:
    """Validate an InvokeModel body for `family` and embed it; raises a ValidationException."""
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    if family == "cohere":
        return _cohere(body)
    return _titan(body, v2=family == "titan-v2")


@functools.lru_cache(maxsize=2048)
def unit_vector(text: str, dimensions: int) -> tuple[float, ...]:
    """The deterministic unit vector of `text` (cached: benchmarks embed the same texts again and again)."""
    raw = array.array("h", hashlib.shake_256(text.encode()).digest(2 * dimensions))
    scale = 1.0 / (math.sqrt(sum(value * value for value in raw)) or 1.0)
    return tuple(round(value * scale, 7) for value in raw)


def _titan(body: dict[str, object], v2: bool) -> Embedding:
    allowed = _TITAN_V2_KEYS if v2 else frozenset({"inputText"})
    extra = sorted(set(body) - allowed)
    if extra:
        raise invalid(f"Malformed input request: extraneous key [{extra[0]}] is not permitted.")
    text = body.get("inputText")
    if not isinstance(text, str) or not text.strip():
        raise invalid("Malformed input request: inputText must be a non-blank string.")
    tokens = count_words(text)
    if not v2:
        return Embedding(
            {"embedding": unit_vector(text, TITAN_V1_DIMENSIONS), "inputTextTokenCount": tokens}, (text,), tokens
        )
    dimensions = body.get("dimensions", 1024)
    if dimensions not in TITAN_V2_DIMENSIONS or isinstance(dimensions, bool) or not isinstance(dimensions, int):
        raise invalid(f"Malformed input request: dimensions must be one of {TITAN_V2_DIMENSIONS}.")
    if not isinstance(body.get("normalize", True), bool):
        raise invalid("Malformed input request: normalize must be a boolean.")
    types = body.get("embeddingTypes", ["float"])
    if not isinstance(types, list) or not types or not set(types) <= {"float", "binary"}:
        raise invalid('Malformed input request: embeddingTypes must list "float" and/or "binary".')
    vector = unit_vector(text, dimensions)
    by_type: dict[str, object] = {}
    if "float" in types:
        by_type["float"] = vector
    if "binary" in types:
        by_type["binary"] = [1 if value > 0 else 0 for value in vector]
    return Embedding({"embedding": vector, "inputTextTokenCount": tokens, "embeddingsByType": by_type}, (text,), tokens)


def _cohere(body: dict[str, object]) -> Embedding:
    extra = sorted(set(body) - _COHERE_KEYS)
    if extra:
        raise invalid(f"Malformed input request: extraneous key [{extra[0]}] is not permitted.")
    if "images" in body:
        raise invalid("Malformed input request: image inputs are not supported by this fake.")
    texts = body.get("texts")
    if not isinstance(texts, list) or not 1 <= len(texts) <= COHERE_MAX_TEXTS:
        raise invalid(f"Malformed input request: texts must be a list of 1 to {COHERE_MAX_TEXTS} strings.")
    if not all(isinstance(text, str) for text in texts):
        raise invalid("Malformed input request: texts must be strings.")
    if body.get("input_type") not in _COHERE_INPUT_TYPES:
        raise invalid(f"Malformed input request: input_type must be one of {', '.join(sorted(_COHERE_INPUT_TYPES))}.")
    if body.get("truncate", "END") not in ("NONE", "START", "END"):
        raise invalid("Malformed input request: truncate must be NONE, START or END.")
    vectors = [unit_vector(text, COHERE_DIMENSIONS) for text in texts]
    joined = "\x00".join(texts).encode()
    response: dict[str, object] = {"id": str(uuid.UUID(bytes=hashlib.blake2b(joined, digest_size=16).digest()))}
    types = body.get("embedding_types")
    if types is None:
        response |= {"embeddings": vectors, "response_type": "embeddings_floats"}
    else:
        if not isinstance(types, list) or not types or not set(types) <= _COHERE_TYPES:
            raise invalid(
                f"Malformed input request: embedding_types must list some of {', '.join(sorted(_COHERE_TYPES))}."
            )
        response |= {
            "embeddings": {kind: [_quantize(vector, kind) for vector in vectors] for kind in types},
            "response_type": "embeddings_by_type",
        }
    response["texts"] = texts
    return Embedding(response, tuple(texts), sum(count_words(text) for text in texts))


def _quantize(vector: tuple[float, ...], kind: str) -> object:
    if kind == "float":
        return vector
    peak = max(abs(value) for value in vector) or 1.0
    if kind == "int8":
        return [round(value / peak * 127) for value in vector]
    if kind == "uint8":
        return [round((value / peak + 1) * 127.5) for value in vector]
    packed = [
        int("".join("1" if value > 0 else "0" for value in vector[start : start + 8]), 2)
        for start in range(0, len(vector), 8)
    ]
    return [byte - 128 for byte in packed] if kind == "binary" else packed
