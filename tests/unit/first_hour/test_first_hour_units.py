"""Pure pieces of the first hour: the secret file, the ready block, display rounding, the
healthcheck verdict, the verbs' log level and `config show`."""

from __future__ import annotations

import threading
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import SecretStr

from core.alert_secret import AlertSecretError, read_or_create_secret, with_paper_admin_token, with_paper_secret
from core.display import price_text, size_text, usd_text
from core.healthcheck import lookup, verdict
from core.settings import Settings, TradingMode
from main import _log_level, build_parser, config_lines, main
from reports.dashboard.account import CashBalance, account_summary
from reports.dashboard.data import PositionSnapshot
from webhook.ready import ReadyInfo, psql_command, ready_lines


def _settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(_env_file=None, webhook_secret_file=tmp_path / "webhook-secret",  # type: ignore[call-arg]
                    admin_token_file=tmp_path / "admin-token", **kw)


def test_secret_file_is_created_once_0600_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "var" / "webhook-secret"
    secret, created = read_or_create_secret(path)
    assert created and len(secret) >= 32 and path.stat().st_mode & 0o777 == 0o600
    assert read_or_create_secret(path) == (secret, False)


def test_concurrent_creators_agree(tmp_path: Path) -> None:
    path = tmp_path / "webhook-secret"
    results: list[tuple[str, bool]] = []
    errors: list[BaseException] = []

    def create() -> None:
        try:
            results.append(read_or_create_secret(path))
        except BaseException as exc:  # a reader that saw a half-written file used to fail here
            errors.append(exc)

    for _ in range(20):  # the race is timing-dependent: many rounds, a fresh file each time
        path.unlink(missing_ok=True)
        results.clear()
        threads = [threading.Thread(target=create) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert len({secret for secret, _ in results}) == 1 and path.read_text().strip() == results[0][0]
        assert [created for _, created in results].count(True) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["webhook-secret"]  # no temporary file left


def test_a_short_secret_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "webhook-secret"
    path.write_text("short\n")
    with pytest.raises(AlertSecretError, match="at least 32"):
        read_or_create_secret(path)


def test_paper_uses_the_file_live_and_explicit_secrets_do_not(tmp_path: Path) -> None:
    settings, path, created = with_paper_secret(_settings(tmp_path))
    assert path == tmp_path / "webhook-secret" and created
    assert settings.webhook_secret_list() == [path.read_text().strip()]
    explicit = _settings(tmp_path, webhook_secrets=SecretStr("x" * 40))
    assert with_paper_secret(explicit)[1] is None
    live = _settings(tmp_path, trading_mode=TradingMode.LIVE,
                     live_trading_confirm="I understand this trades real money", coinbase_api_key="k",
                     coinbase_api_secret=SecretStr("s"), webhook_secrets=SecretStr("y" * 40))
    assert with_paper_secret(live)[1] is None


def test_admin_token_only_for_paper_beyond_loopback_without_one(tmp_path: Path) -> None:
    assert with_paper_admin_token(_settings(tmp_path))[1] is None  # loopback: the dashboard needs no token
    settings, path = with_paper_admin_token(_settings(tmp_path, webhook_host="0.0.0.0"))
    assert path == tmp_path / "admin-token" and settings.admin_token.get_secret_value() == path.read_text().strip()
    given = _settings(tmp_path, webhook_host="0.0.0.0", admin_token=SecretStr("t" * 40))
    assert with_paper_admin_token(given)[1] is None


def test_psql_command_for_the_embedded_socket_and_a_server_url() -> None:
    embedded = "postgresql://postgres:@/bottrader?host=/srv/bt/var/pgdata"
    assert psql_command(embedded) == "psql 'host=/srv/bt/var/pgdata dbname=bottrader user=postgres'"
    assert psql_command("postgresql://u:pw@db:5432/bt", "/opt/psql") == "/opt/psql 'postgresql://u:***@db:5432/bt'"


def test_ready_block_names_everything_a_person_needs() -> None:
    info = ReadyInfo(mode="both", trading_mode="paper", exchange="in-process simulator",
                     dashboard_url="http://127.0.0.1:5003/", alert_url="http://127.0.0.1:5003/webhook",
                     psql="psql 'host=/x dbname=bottrader user=postgres'", products=["BTC-USD", "ETH-USD"],
                     secret_file=Path("/x/var/webhook-secret"), state={"state": "/x/var/pgdata (database)"})
    text = "\n".join(ready_lines(info))
    for needle in ("bottrader is ready — both, PAPER", "dashboard:  http://127.0.0.1:5003/",
                   "alerts:     POST http://127.0.0.1:5003/webhook", "secret:     /x/var/webhook-secret",
                   "database:   psql 'host=/x", "products:   BTC-USD, ETH-USD", "/x/var/pgdata", "Ctrl-C"):
        assert needle in text
    live = "\n".join(ready_lines(ReadyInfo(**{**info.__dict__, "trading_mode": "live", "secret_file": None})))
    assert "LIVE — real money" in live and "secret:" not in live


def test_display_rounding_happens_only_in_text() -> None:
    pnl = Decimal("-3.104999999999999999")
    assert usd_text(pnl) == "−$3.10" and usd_text(Decimal("1234.565")) == "$1,234.56" and usd_text(None) == "–"
    assert size_text(Decimal("0.001647199999"), Decimal("0.00000001")) == "0.00164719"
    assert price_text(Decimal("59989.4512345"), Decimal("0.01")) == "59989.45"


def test_account_equity_is_cash_plus_positions_at_last_price() -> None:
    cash = [CashBalance("USD", Decimal("9900"), Decimal("50")), CashBalance("BTC", Decimal("1"), Decimal("0"))]
    positions = [PositionSnapshot("BTC-USD", Decimal("0.002"), Decimal("50000"), last_price=Decimal("51000")),
                 PositionSnapshot("ETH-USD", Decimal("1"), Decimal("3000"))]  # no quote yet: at entry
    s = account_summary(cash, positions)
    assert s["cash_usd"] == Decimal("9950") and s["cash_available_usd"] == Decimal("9900")
    assert s["positions_value_usd"] == Decimal("3102") and s["equity_usd"] == Decimal("13052")
    assert s["positions_at_entry_price"] == ["ETH-USD"]


def test_healthcheck_verdict() -> None:
    body = {"ready": True, "matrix": {"fresh": False}, "problems": []}
    assert lookup(body, "matrix.fresh") is False and lookup(body, "nope.x") is None
    assert verdict(200, body, []) == (True, "healthy")
    assert verdict(200, body, ["matrix.fresh"]) == (False, "not true: matrix.fresh")
    assert verdict(503, {"problems": ["database"]}, [])[0] is False


def test_verbs_log_warnings_only_unless_verbose_daemons_log_as_configured() -> None:
    assert _log_level("INFO", "fifo", verbose=False) == "WARNING"
    assert _log_level("INFO", "fifo", verbose=True) == "INFO"
    assert _log_level("ERROR", "report", verbose=False) == "ERROR"
    assert _log_level("INFO", "both", verbose=False) == "INFO"


def test_config_show_is_name_value_lines(capsys: pytest.CaptureFixture[str]) -> None:
    text = config_lines({"trading_mode": "paper", "sim_products": ["BTC-USD", "ETH-USD"], "exchange_ca_file": None,
                         "trailing_breakeven": True})
    assert text == "TRADING_MODE=paper\nSIM_PRODUCTS=BTC-USD,ETH-USD\nEXCHANGE_CA_FILE=\nTRAILING_BREAKEVEN=true\n"
    assert main(["config", "show", "-v"]) == 0  # -v is accepted after the verb too
    out = capsys.readouterr().out
    assert "TRADING_MODE=" in out and "WEBHOOK_SECRETS=" in out
    assert build_parser().parse_args(["-v", "config", "show"]).verbose
