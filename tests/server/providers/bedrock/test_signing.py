"""The gateway's SigV4 signer signs exactly as botocore's SigV4Auth does, on any request it could send."""

from __future__ import annotations

import datetime
from urllib.parse import quote

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials
from hypothesis import given, settings
from hypothesis import strategies as st

from llmgw.server.providers.bedrock.signing import RequestSigner, host_header

_ENDPOINTS = [
    "https://bedrock-runtime.us-east-1.amazonaws.com",
    "https://bedrock-runtime.eu-west-3.amazonaws.com:443",
    "http://127.0.0.1:8123",
    "http://LOCALHOST:80/",
    "http://[::1]:9000/prefix",
    "https://user@bedrock-runtime-fips.us-gov-west-1.amazonaws.com:8443",
]


def _botocores(
    credentials: ReadOnlyCredentials,
    endpoint: str,
    region: str,
    path: str,
    body: bytes,
    headers: dict[str, str],
    now: float,
) -> dict[str, str]:
    """What botocore's SigV4Auth sends for the same request at the same instant."""
    request = AWSRequest(method="POST", url=endpoint.rstrip("/") + path, data=body, headers=dict(headers))
    signer = SigV4Auth(credentials, "bedrock", region)
    moment = datetime.datetime.fromtimestamp(now, datetime.UTC).replace(tzinfo=None)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("botocore.auth.get_current_datetime", lambda: moment)
        signer.add_auth(request)
    return dict(request.headers.items())


_header_values = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30)


@settings(max_examples=200, deadline=None)
@given(
    endpoint=st.sampled_from(_ENDPOINTS),
    region=st.sampled_from(["us-east-1", "eu-central-2", "ap-southeast-7"]),
    model=st.text(min_size=1, max_size=60),
    operation=st.sampled_from(["converse", "converse-stream", "invoke", "invoke-with-response-stream"]),
    body=st.binary(max_size=500),
    extra=st.dictionaries(
        st.sampled_from(["X-Amzn-Bedrock-Accept", "anthropic-beta", "anthropic-version", "User-Agent", "X-Custom"]),
        _header_values,
        max_size=4,
    ),
    token=st.none() | st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40),
    now=st.integers(min_value=1_600_000_000, max_value=2_500_000_000),
)
def test_signatures_match_botocore(
    endpoint: str,
    region: str,
    model: str,
    operation: str,
    body: bytes,
    extra: dict[str, str],
    token: str | None,
    now: int,
) -> None:
    """Any model id, body, extra headers, session token, endpoint and instant: the same headers, byte for byte."""
    credentials = ReadOnlyCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    path = f"/model/{quote(model, safe='')}/{operation}"
    headers = {"Content-Type": "application/json", "Accept": "application/json", **extra}
    ours = RequestSigner(endpoint.rstrip("/"), region, "bedrock").sign(credentials, path, body, headers, now=float(now))
    assert ours == _botocores(credentials, endpoint, region, path, body, headers, now)


def test_the_days_key_is_derived_again_for_a_new_day_or_secret() -> None:
    """One signer across midnight and a credential rotation still signs as botocore does."""
    signer = RequestSigner("https://bedrock-runtime.us-east-1.amazonaws.com", "us-east-1", "bedrock")
    first = ReadOnlyCredentials("AKID1", "secret-one", None)
    rotated = ReadOnlyCredentials("AKID2", "secret-two", "token")
    endpoint, path, body = "https://bedrock-runtime.us-east-1.amazonaws.com", "/model/m/converse", b"{}"
    for credentials, now in [(first, 1_790_000_000.0), (first, 1_790_086_400.0), (rotated, 1_790_086_401.0)]:
        headers = {"Content-Type": "application/json"}
        assert signer.sign(credentials, path, body, headers, now=now) == _botocores(
            credentials, endpoint, "us-east-1", path, body, headers, now
        )


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://bedrock-runtime.us-east-1.amazonaws.com:443", "bedrock-runtime.us-east-1.amazonaws.com"),
        ("http://127.0.0.1:80", "127.0.0.1"),
        ("http://127.0.0.1:443", "127.0.0.1:443"),
        ("http://[::1]:9000", "[::1]:9000"),
        ("https://USER:pw@Example.COM", "example.com"),
    ],
)
def test_host_header(url: str, host: str) -> None:
    """The signed Host drops user info and the scheme's default port, and lowercases, as HTTP clients send it."""
    assert host_header(url) == host
