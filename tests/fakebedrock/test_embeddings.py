from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

from llmgw.fakebedrock.embeddings import embedding_family, unit_vector
from tests.fakebedrock.conftest import CHAT_MODEL
from tests.model_ids import COHERE

if TYPE_CHECKING:
    from mypy_boto3_bedrock_runtime import BedrockRuntimeClient

TITAN_V2 = "amazon.titan-embed-text-v2:0"
TITAN_V1 = "amazon.titan-embed-text-v1"


def invoke(bedrock: BedrockRuntimeClient, model_id: str, body: object) -> tuple[Any, int]:
    response = bedrock.invoke_model(modelId=model_id, body=json.dumps(body), contentType="application/json")
    token_count = int(response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-bedrock-input-token-count"])
    return json.loads(response["body"].read()), token_count


def norm(vector: list[float]) -> float:
    return math.sqrt(sum(value * value for value in vector))


def test_titan_v2_with_256_dimensions(bedrock: BedrockRuntimeClient) -> None:
    """Titan v2 returns a unit vector of the asked size, the token count in body and header."""
    body, header_tokens = invoke(bedrock, TITAN_V2, {"inputText": "the quick brown fox", "dimensions": 256})
    assert len(body["embedding"]) == 256
    assert norm(body["embedding"]) == pytest.approx(1.0, abs=1e-4)
    assert body["inputTextTokenCount"] == header_tokens == 4
    assert body["embeddingsByType"] == {"float": body["embedding"]}


def test_titan_v2_defaults_to_1024_and_offers_binary(bedrock: BedrockRuntimeClient) -> None:
    """Without dimensions Titan v2 gives 1024 floats; embeddingTypes binary adds 0/1 values."""
    body, _ = invoke(bedrock, TITAN_V2, {"inputText": "hello", "embeddingTypes": ["float", "binary"]})
    assert len(body["embedding"]) == 1024
    assert set(body["embeddingsByType"]["binary"]) == {0, 1}


def test_titan_v1_returns_1536_floats(bedrock: BedrockRuntimeClient) -> None:
    """Titan v1 answers {embedding, inputTextTokenCount} with 1536 dimensions."""
    body, header_tokens = invoke(bedrock, TITAN_V1, {"inputText": "two words"})
    assert set(body) == {"embedding", "inputTextTokenCount"}
    assert len(body["embedding"]) == 1536
    assert body["inputTextTokenCount"] == header_tokens == 2


def test_same_text_same_vector_other_text_other_vector(bedrock: BedrockRuntimeClient) -> None:
    """Embeddings are deterministic per text and differ between texts."""
    first, _ = invoke(bedrock, TITAN_V2, {"inputText": "same"})
    again, _ = invoke(bedrock, TITAN_V2, {"inputText": "same"})
    other, _ = invoke(bedrock, TITAN_V2, {"inputText": "different"})
    assert first["embedding"] == again["embedding"] != other["embedding"]


def test_cohere_batch_returns_floats(bedrock: BedrockRuntimeClient) -> None:
    """Cohere embeds a batch in order, response_type embeddings_floats, header counts all words."""
    texts = ["first text here", "second", "third one"]
    body, header_tokens = invoke(bedrock, COHERE, {"texts": texts, "input_type": "search_document"})
    assert body["response_type"] == "embeddings_floats"
    assert body["texts"] == texts
    assert body["id"]
    assert len(body["embeddings"]) == 3
    assert all(len(vector) == 1024 for vector in body["embeddings"])
    assert body["embeddings"][1] == pytest.approx(list(unit_vector("second", 1024)))
    assert header_tokens == 6


def test_cohere_embedding_types_return_by_type(bedrock: BedrockRuntimeClient) -> None:
    """With embedding_types, Cohere answers embeddings keyed by type (embeddings_by_type)."""
    body, _ = invoke(
        bedrock, COHERE, {"texts": ["a", "b"], "input_type": "search_query", "embedding_types": ["float", "int8"]}
    )
    assert body["response_type"] == "embeddings_by_type"
    assert set(body["embeddings"]) == {"float", "int8"}
    assert len(body["embeddings"]["float"]) == len(body["embeddings"]["int8"]) == 2
    assert all(-128 <= value <= 127 for value in body["embeddings"]["int8"][0])


@pytest.mark.parametrize(
    ("model_id", "body"),
    [
        (TITAN_V2, {"dimensions": 256}),
        (TITAN_V2, {"inputText": "x", "dimensions": 300}),
        (TITAN_V2, {"inputText": "x", "unknown": 1}),
        (TITAN_V1, {"inputText": "x", "dimensions": 256}),
        (COHERE, {"texts": ["x"] * 97, "input_type": "search_document"}),
        (COHERE, {"texts": [], "input_type": "search_document"}),
        (COHERE, {"texts": ["x"]}),
        (COHERE, {"texts": ["x"], "input_type": "search_query", "embedding_types": ["bogus"]}),
        (CHAT_MODEL, {"inputText": "x"}),
        ("amazon.titan-embed-image-v1", {"inputText": "x"}),
    ],
)
def test_bad_invoke_bodies_are_validation_errors(bedrock: BedrockRuntimeClient, model_id: str, body: Any) -> None:
    """Bad embedding bodies, and non-embedding models on InvokeModel, get 400 ValidationException."""
    with pytest.raises(ClientError) as caught:
        invoke(bedrock, model_id, body)
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_fault_markers_apply_to_embeddings(bedrock: BedrockRuntimeClient) -> None:
    """A fault marker in the embedded text fails InvokeModel too."""
    with pytest.raises(ClientError) as caught:
        invoke(bedrock, TITAN_V2, {"inputText": "x [[fault:throttle]]"})
    assert caught.value.response["Error"]["Code"] == "ThrottlingException"


@pytest.mark.parametrize(
    ("model_id", "family"),
    [
        ("amazon.titan-embed-text-v2:0", "titan-v2"),
        ("amazon.titan-embed-text-v1", "titan-v1"),
        ("amazon.titan-embed-g1-text-02", "titan-v1"),
        ("cohere.embed-multilingual-v3", "cohere"),
        ("us.cohere.embed-v4:0", "cohere"),
        (CHAT_MODEL, None),
    ],
)
def test_embedding_family(model_id: str, family: str | None) -> None:
    """Model ids map onto the request shape they take."""
    assert embedding_family(model_id) == family
