"""Log redaction: secrets never reach the output."""

from __future__ import annotations

from core.logging import REDACTED, SecretRedactor, mask_key


def _run(redactor: SecretRedactor, **event: object) -> dict[str, object]:
    return dict(redactor(None, "info", dict(event)))


def test_secret_named_fields_are_redacted() -> None:
    out = _run(SecretRedactor(), event="x", api_secret="abc123456", webhook_secret="zzzzzzzz", token="t0k3n-value")
    assert out["api_secret"] == REDACTED and out["webhook_secret"] == REDACTED and out["token"] == REDACTED


def test_password_in_url_is_redacted() -> None:
    out = _run(SecretRedactor(), event="db", url="postgresql://bot:hunter22@db:5432/bottrader")
    assert "hunter22" not in str(out["url"])
    assert str(out["url"]).startswith("postgresql://bot:***@db")


def test_known_secret_values_are_scrubbed_anywhere() -> None:
    r = SecretRedactor(["S3CR3T-VALUE-0123456789"])
    out = _run(r, event="alert", body='{"secret": "S3CR3T-VALUE-0123456789", "ticker": "BTCUSD"}',
               nested={"list": ["prefix S3CR3T-VALUE-0123456789 suffix"]})
    assert "S3CR3T" not in str(out)


def test_pem_and_bearer_are_scrubbed() -> None:
    pem = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEI\n-----END EC PRIVATE KEY-----"
    out = _run(SecretRedactor(), event="x", detail=f"key={pem}", header="Authorization: Bearer abc.def.ghi")
    assert "MHcCAQEEI" not in str(out) and "abc.def.ghi" not in str(out)


def test_mask_key_never_shows_the_whole_key() -> None:
    key = "organizations/1234/apiKeys/abcd-efgh"
    assert mask_key(key) != key and mask_key(key).startswith("orga")


def test_a_secret_field_name_is_redacted_every_time_whatever_its_first_value() -> None:
    """Field names are memoised; the value rule (empty values are shown) must still apply per event."""
    r = SecretRedactor()
    assert _run(r, event="x", notify_token="")["notify_token"] == ""
    assert _run(r, event="x", notify_token="abc-123-secret")["notify_token"] == REDACTED
    assert _run(r, event="x", symbol="BTC-USD")["symbol"] == "BTC-USD"
