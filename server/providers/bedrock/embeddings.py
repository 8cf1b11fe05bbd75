"""OpenAI embedding requests <-> Bedrock InvokeModel bodies, per embedding family.

Each family (catalog `embedding_family`) has its own request and response shape:
Titan embeds one text per call, Cohere v3 a batch. These pure functions build the
bodies to send and read the answers back, so the service only loops and counts.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf import struct_pb2

from llmgw.server.core.accounting import estimate_tokens
from llmgw.server.core.catalog import CatalogModel
from llmgw.v1 import embedding_service_pb2
from llmgw.wire.errors import InvalidArgument, UpstreamError

MAX_INPUTS = 2048
INPUT_TOKEN_HEADER = "x-amzn-bedrock-input-token-count"  # noqa: S105  # a header name, not a secret


@dataclass(frozen=True, slots=True)
class EmbeddingBatch:
    """What one InvokeModel call returned: its vectors in input order and the tokens it read."""

    vectors: list[list[float]]
    input_tokens: int


def build_invoke_bodies(model: CatalogModel, texts: Sequence[str], dimensions: int | None) -> list[dict[str, Any]]:
    """The InvokeModel bodies that embed `texts`, in order; one call each."""
    if model.kind != "embedding":
        raise InvalidArgument(f"The model '{model.id}' is not an embedding model.", field="model")
    if not texts:
        raise InvalidArgument("input must contain at least one text.", field="input")
    if len(texts) > MAX_INPUTS:
        raise InvalidArgument(f"input may contain at most {MAX_INPUTS} texts, but has {len(texts)}.", field="input")
    for i, text in enumerate(texts):
        if not text:
            raise InvalidArgument(
                f"input[{i}] is empty; every text to embed must contain something.", field=f"input[{i}]"
            )
    if model.embedding_family == "titan-v2":
        size = _choose_dimensions(model, dimensions)
        return [{"inputText": text, "dimensions": size, "normalize": True} for text in texts]
    if model.embedding_family == "titan-v1":
        _choose_dimensions(model, dimensions)
        return [{"inputText": text} for text in texts]
    if model.embedding_family == "cohere-v3":
        _choose_dimensions(model, dimensions)
        step = max(model.max_batch, 1)
        return [
            {"texts": list(texts[start : start + step]), "input_type": "search_document", "truncate": "END"}
            for start in range(0, len(texts), step)
        ]
    raise InvalidArgument(f"The gateway does not know how to call the embedding model '{model.id}'.", field="model")


def _choose_dimensions(model: CatalogModel, dimensions: int | None) -> int | None:
    """The vector size to ask for: the caller's if the model offers it, else the model's default."""
    if dimensions is None:
        return model.dimensions[0] if model.dimensions else None
    if dimensions not in model.dimensions:
        offered = ", ".join(str(size) for size in model.dimensions) or "none"
        raise InvalidArgument(
            f"The model '{model.id}' does not support {dimensions} dimensions (supported: {offered}).",
            field="dimensions",
        )
    return dimensions


def parse_invoke_response(
    model: CatalogModel, body: Mapping[str, Any], input_token_header: str | None
) -> EmbeddingBatch:
    """The vectors and input-token count of one InvokeModel answer.

    Titan reports tokens in its body; Cohere only in the
    x-amzn-bedrock-input-token-count header. Without that header the count is
    estimated from the texts Cohere echoes back, rounded up, so an embedding is
    never served free.
    """
    try:
        if model.embedding_family in ("titan-v2", "titan-v1"):
            return EmbeddingBatch(vectors=[_floats(body["embedding"])], input_tokens=int(body["inputTextTokenCount"]))
        embeddings = body["embeddings"]
        if isinstance(embeddings, Mapping):
            embeddings = embeddings["float"]
        if input_token_header:
            tokens = int(input_token_header)
        else:
            tokens = sum(estimate_tokens(len(text)) for text in body["texts"])
        return EmbeddingBatch(vectors=[_floats(vector) for vector in embeddings], input_tokens=tokens)
    except (KeyError, TypeError, ValueError) as exc:
        raise UpstreamError(
            f"Bedrock returned an embedding response for '{model.id}' the gateway could not read."
        ) from exc


def _floats(vector: Sequence[Any]) -> list[float]:
    if isinstance(vector, (str, bytes, Mapping)):
        raise TypeError("an embedding vector must be a list of numbers")
    return [float(x) for x in vector]


def encode_vector(
    vector: Sequence[float], encoding: embedding_service_pb2.EncodingFormat.ValueType
) -> struct_pb2.Value:
    """The vector as OpenAI returns it: a list of numbers, or base64 of little-endian float32."""
    if encoding == embedding_service_pb2.ENCODING_FORMAT_BASE64:
        raw = struct.pack(f"<{len(vector)}f", *vector)
        return struct_pb2.Value(string_value=base64.b64encode(raw).decode("ascii"))
    values = [struct_pb2.Value(number_value=x) for x in vector]
    return struct_pb2.Value(list_value=struct_pb2.ListValue(values=values))
