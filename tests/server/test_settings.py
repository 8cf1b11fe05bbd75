"""Settings: TOML plus LLMGW_ environment, and one clear line for each bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmgw.server.settings import ListenAddress, Settings, SettingsError
from tests.support import picodollars


def test_defaults_match_the_design() -> None:
    """With nothing configured, gRPC and HTTP listen on loopback at the documented ports."""
    settings = Settings.load(environ={})
    assert settings.grpc_listen == ListenAddress("127.0.0.1", 50051)
    assert settings.http_listen == ListenAddress("127.0.0.1", 8080)
    assert settings.default_quota_frequency == "weekly"
    assert settings.max_body_bytes == 20 * 1024 * 1024


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    """LLMGW_ variables win over the TOML file, and seed names keep their meaning."""
    config = tmp_path / "llmgw.toml"
    config.write_text('http_listen = "127.0.0.1:7000"\nadmin_list = ["alice", "bob"]\ndefault_quota_dollars = 12.5\n')
    settings = Settings.load(config, environ={"LLMGW_HTTP_LISTEN": "127.0.0.1:9999", "LLMGW_DEBUG": "true"})
    assert settings.http_listen == ListenAddress("127.0.0.1", 9999)
    assert settings.admin_list == ("alice", "bob")
    assert settings.default_quota_dollars == picodollars("12.5")
    assert settings.debug is True
    assert settings.is_admin("alice")
    assert not settings.is_admin("mallory")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("LLMGW_GRPC_LISTEN", "localhost", "LLMGW_GRPC_LISTEN (environment): expected HOST:PORT"),
        ("LLMGW_HTTP_LISTEN", "127.0.0.1:70000", "LLMGW_HTTP_LISTEN (environment): expected HOST:PORT"),
        ("LLMGW_DEFAULT_QUOTA_FREQUENCY", "hourly", "LLMGW_DEFAULT_QUOTA_FREQUENCY (environment): expected daily"),
        ("LLMGW_DEFAULT_QUOTA_DOLLARS", "-5", "LLMGW_DEFAULT_QUOTA_DOLLARS (environment): expected a USD amount"),
        ("LLMGW_DEFAULT_QUOTA_DOLLARS", "lots", "LLMGW_DEFAULT_QUOTA_DOLLARS (environment): expected a USD amount"),
        ("LLMGW_DEBUG", "maybe", "LLMGW_DEBUG (environment): expected true or false"),
        ("LLMGW_BENCHMARK_MODE", "2", "LLMGW_BENCHMARK_MODE (environment): expected true or false"),
        ("LLMGW_DATABASE_URL", "mysql://db/x", "LLMGW_DATABASE_URL (environment): expected sqlite:///PATH"),
        ("LLMGW_BEDROCK_MAX_ATTEMPTS", "0", "LLMGW_BEDROCK_MAX_ATTEMPTS (environment): expected a positive integer"),
        ("LLMGW_MAX_BODY_BYTES", "big", "LLMGW_MAX_BODY_BYTES (environment): expected a positive integer"),
        ("LLMGW_KEY_CACHE_SECONDS", "-1", "LLMGW_KEY_CACHE_SECONDS (environment): expected a positive number"),
        ("LLMGW_TLS_CERT_FILE", "/no/such/cert.pem", "LLMGW_TLS_CERT_FILE (environment): no such file"),
        ("LLMGW_TLS_CA_FILE", "/no/such/ca.pem", "LLMGW_TLS_CA_FILE (environment): no such file"),
        ("LLMGW_DEFAULT_RPM", "-1", "LLMGW_DEFAULT_RPM (environment): expected an integer of 0 or more"),
        ("LLMGW_DEFAULT_TPM", "many", "LLMGW_DEFAULT_TPM (environment): expected an integer of 0 or more"),
        ("LLMGW_METRICS_LISTEN", "9464", "LLMGW_METRICS_LISTEN (environment): expected HOST:PORT"),
        ("LLMGW_LOG_FORMAT", "xml", "LLMGW_LOG_FORMAT (environment): expected json or text"),
        ("LLMGW_JWT_LEEWAY_SECONDS", "-3", "LLMGW_JWT_LEEWAY_SECONDS (environment): expected a number of 0 or more"),
        ("LLMGW_OIDC_ISSUERS", "[{issuer = 1", "LLMGW_OIDC_ISSUERS (environment): expected a TOML inline array"),
        ("LLMGW_OIDC_ISSUERS", '[{issuer = "ftp://x"}]', "LLMGW_OIDC_ISSUERS (environment): each issuer needs"),
        (
            "LLMGW_OIDC_ISSUERS",
            '[{issuer = "https://x", audience = "a", admin_group = "g"}]',
            "LLMGW_OIDC_ISSUERS (environment): issuer https://x: admin_group_claim and admin_group go together",
        ),
    ],
)
def test_each_bad_value_gives_one_line_naming_it(name: str, value: str, message: str) -> None:
    """A bad value raises SettingsError whose single line names the setting and its source."""
    with pytest.raises(SettingsError) as caught:
        Settings.load(environ={name: value})
    text = str(caught.value)
    assert text.startswith(message)
    assert "\n" not in text


def test_unknown_key_in_the_file_is_named(tmp_path: Path) -> None:
    """A typo in the TOML file is refused rather than silently ignored."""
    config = tmp_path / "llmgw.toml"
    config.write_text('grpc_lisen = "127.0.0.1:1"\n')
    with pytest.raises(SettingsError, match="unknown setting 'grpc_lisen'"):
        Settings.load(config, environ={})


def test_malformed_file_is_one_line(tmp_path: Path) -> None:
    """A TOML syntax error names the file."""
    config = tmp_path / "llmgw.toml"
    config.write_text("grpc_listen = \n")
    with pytest.raises(SettingsError, match="config file"):
        Settings.load(config, environ={})


def test_tls_files_must_come_in_pairs(tmp_path: Path) -> None:
    """A certificate without its key stops start-up."""
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    with pytest.raises(SettingsError, match="LLMGW_TLS_CERT_FILE and LLMGW_TLS_KEY_FILE"):
        Settings.load(environ={"LLMGW_TLS_CERT_FILE": str(cert)})


def test_issuers_come_from_an_array_of_tables_in_the_file(tmp_path: Path) -> None:
    """`[[oidc_issuers]]` tables in the TOML file become issuers, with their defaults filled in."""
    config = tmp_path / "llmgw.toml"
    config.write_text(
        '[[oidc_issuers]]\nissuer = "https://a.example"\naudience = "x"\n'
        '[[oidc_issuers]]\nissuer = "https://b.example"\naudience = ["y"]\njwks_uri = "https://b.example/keys"\n',
        encoding="utf-8",
    )
    first, second = Settings.load(config, environ={}).oidc_issuers
    assert (first.issuer, first.username_claim, first.algorithms) == ("https://a.example", "sub", ("RS256", "ES256"))
    assert (second.audience, second.jwks_uri) == (("y",), "https://b.example/keys")
