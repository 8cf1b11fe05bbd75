"""Table tests of embedding requests <-> InvokeModel bodies (server/providers/bedrock/embeddings.py)."""

from __future__ import annotations

import base64
import struct
from typing import Any

import pytest
from google.protobuf import struct_pb2

from llmgw.server.core.catalog import Catalog, CatalogModel
from llmgw.server.providers.bedrock.embeddings import (
    EmbeddingBatch,
    build_invoke_bodies,
    encode_vector,
    parse_invoke_response,
)
from llmgw.v1 import embedding_service_pb2
from llmgw.wire.errors import InvalidArgument, UpstreamError
from tests.model_ids import COHERE as COHERE_ID

CATALOG = Catalog.load()
TITAN_V2 = CATALOG.get("amazon.titan-embed-text-v2:0")
TITAN_V1 = CATALOG.get("amazon.titan-embed-text-v1")
COHERE = CATALOG.get(COHERE_ID)


@pytest.mark.parametrize(
    ("model", "texts", "dimensions", "expected"),
    [
        pytest.param(
            TITAN_V2,
            ["a", "b"],
            None,
            [
                {"inputText": "a", "dimensions": 1024, "normalize": True},
                {"inputText": "b", "dimensions": 1024, "normalize": True},
            ],
            id="titan-v2-default-size",
        ),
        pytest.param(
            TITAN_V2, ["a"], 256, [{"inputText": "a", "dimensions": 256, "normalize": True}], id="titan-v2-256"
        ),
        pytest.param(TITAN_V1, ["a", "b"], None, [{"inputText": "a"}, {"inputText": "b"}], id="titan-v1"),
        pytest.param(TITAN_V1, ["a"], 1536, [{"inputText": "a"}], id="titan-v1-native-size"),
        pytest.param(
            COHERE,
            ["x"] * 100,
            None,
            [
                {"texts": ["x"] * 96, "input_type": "search_document", "truncate": "END"},
                {"texts": ["x"] * 4, "input_type": "search_document", "truncate": "END"},
            ],
            id="cohere-batches-of-96",
        ),
    ],
)
def test_build_invoke_bodies(
    model: CatalogModel, texts: list[str], dimensions: int | None, expected: list[dict[str, Any]]
) -> None:
    """Each family gets its own request body, one per call, in input order."""
    assert build_invoke_bodies(model, texts, dimensions) == expected


@pytest.mark.parametrize(
    ("model", "texts", "dimensions", "field", "words"),
    [
        pytest.param(TITAN_V2, [], None, "input", "at least one", id="empty-list"),
        pytest.param(TITAN_V2, ["ok", ""], None, "input[1]", "empty", id="empty-string"),
        pytest.param(TITAN_V2, ["t"] * 2049, None, "input", "at most 2048", id="too-many"),
        pytest.param(TITAN_V2, ["a"], 300, "dimensions", "256", id="titan-v2-bad-size"),
        pytest.param(TITAN_V1, ["a"], 512, "dimensions", "1536", id="titan-v1-size"),
        pytest.param(COHERE, ["a"], 256, "dimensions", "1024", id="cohere-size"),
        pytest.param(
            CATALOG.get("amazon.nova-micro-v1:0"), ["a"], None, "model", "not an embedding model", id="chat-model"
        ),
    ],
)
def test_build_invoke_bodies_rejects(
    model: CatalogModel, texts: list[str], dimensions: int | None, field: str, words: str
) -> None:
    """Bad embedding input is refused with InvalidArgument naming the field."""
    with pytest.raises(InvalidArgument) as caught:
        build_invoke_bodies(model, texts, dimensions)
    assert caught.value.field == field
    assert words in caught.value.message


@pytest.mark.parametrize(
    ("model", "body", "header", "expected"),
    [
        pytest.param(
            TITAN_V2,
            {"embedding": [0.5, -1], "inputTextTokenCount": 7, "embeddingsByType": {"float": [0.5, -1]}},
            "99",
            EmbeddingBatch([[0.5, -1.0]], 7),
            id="titan-v2-counts-from-body",
        ),
        pytest.param(
            TITAN_V1,
            {"embedding": [1, 2], "inputTextTokenCount": 3},
            None,
            EmbeddingBatch([[1.0, 2.0]], 3),
            id="titan-v1",
        ),
        pytest.param(
            COHERE,
            {"embeddings": [[0.1], [0.2]], "id": "x", "response_type": "embeddings_floats", "texts": ["a", "b"]},
            "12",
            EmbeddingBatch([[0.1], [0.2]], 12),
            id="cohere-list",
        ),
        pytest.param(
            COHERE,
            {"embeddings": {"float": [[0.3]]}, "response_type": "embeddings_by_type", "texts": ["a"]},
            "4",
            EmbeddingBatch([[0.3]], 4),
            id="cohere-by-type",
        ),
        pytest.param(
            COHERE,
            {"embeddings": [[0.3], [0.4]], "texts": ["four", "a longer text"]},
            None,
            EmbeddingBatch([[0.3], [0.4]], 1 + 4),
            id="cohere-no-header-estimates-from-texts",
        ),
    ],
)
def test_parse_invoke_response(
    model: CatalogModel, body: dict[str, Any], header: str | None, expected: EmbeddingBatch
) -> None:
    """Vectors and token counts are read from each family's response shape."""
    assert parse_invoke_response(model, body, header) == expected


@pytest.mark.parametrize(
    ("model", "body"),
    [
        pytest.param(TITAN_V2, {"inputTextTokenCount": 1}, id="titan-without-embedding"),
        pytest.param(COHERE, {"embeddings": "nope"}, id="cohere-string"),
        pytest.param(COHERE, {"embeddings": {"int8": [[1]]}}, id="cohere-without-float"),
    ],
)
def test_parse_invoke_response_unreadable(model: CatalogModel, body: dict[str, Any]) -> None:
    """A response in no known shape is an upstream failure."""
    with pytest.raises(UpstreamError):
        parse_invoke_response(model, body, "1")


def test_cohere_without_any_token_count_is_refused() -> None:
    """No token header and no echoed texts: the gateway cannot price it, so it does not serve it."""
    with pytest.raises(UpstreamError):
        parse_invoke_response(COHERE, {"embeddings": [[0.3]]}, None)


def test_encode_vector_float() -> None:
    """The float encoding (and the unset default) returns a list of numbers."""
    for encoding in (embedding_service_pb2.ENCODING_FORMAT_FLOAT, embedding_service_pb2.ENCODING_FORMAT_UNSPECIFIED):
        value = encode_vector([0.25, -1.5], encoding)
        expected = struct_pb2.Value()
        expected.list_value.extend([0.25, -1.5])
        assert value == expected


def test_encode_vector_base64_matches_openai() -> None:
    """The base64 encoding is little-endian float32 bytes, as the OpenAI SDK decodes it."""
    value = encode_vector([0.25, -1.5, 3.0], embedding_service_pb2.ENCODING_FORMAT_BASE64)
    decoded = struct.unpack("<3f", base64.b64decode(value.string_value))
    assert decoded == (0.25, -1.5, 3.0)
    assert value.string_value == base64.b64encode(bytes.fromhex("0000803e0000c0bf00004040")).decode()
