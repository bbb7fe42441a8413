"""bottrader command line: run a mode, migrate, and the admin/report verbs.

    python main.py both          sighook + webhook in one process (paper mode by default)
    python main.py webhook       the order executor: alerts, fills, FIFO, exit sentinel
    python main.py sighook       the signal generator: candles, indicators, buy_sell_matrix
    python main.py simulator     the Coinbase-compatible exchange simulator, standalone
    python main.py migrate       upgrade the database schema to head
    python main.py paper reset   wipe the paper account and the database's trading tables together
    python main.py fills retry   record fills that could not be recorded (dead letters)
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    import asyncio

    from core.settings import Settings


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


MODE_HELP = {
    "webhook": "the only process that places orders: TradingView/sighook alerts, WebSocket feeds, fills, "
    "FIFO, reconciliation and the exit sentinel",
    "sighook": "signal generator: candles and indicators → buy_sell_matrix in shared_data, entry alerts to "
    "webhook; never places orders",
    "both": "sighook and webhook in one process (in paper mode also the simulator when REST_BASE_URL is empty)",
    "simulator": "the Coinbase Advanced Trade-compatible exchange (HTTPS REST + WebSocket) on loopback",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="main.py",
        description="bottrader: async trading daemon for Coinbase Advanced Trade spot markets. "
        "Paper trading against the bundled simulator is the default; see README.md.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="admin and report verbs: also show INFO logs on stderr (default: warnings only); "
                        "accepted anywhere on the command line")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for mode, text in MODE_HELP.items():
        p = sub.add_parser(mode, help=text, description=text)
        if mode != "simulator":
            p.add_argument("--migrate", action="store_true",
                           help="upgrade the schema to head before starting (otherwise a schema that is "
                           "not at head stops the start)")
    sub.add_parser("migrate", help="upgrade the database schema to head (Alembic)")
    cfg = sub.add_parser("config", help="show the effective configuration (secrets redacted) or the example")
    cfg.add_argument("what", choices=["show", "example"])
    cfg.add_argument("--json", action="store_true", help="config show: JSON instead of NAME=value lines")
    for module_name in PLUGIN_CLIS:
        # Each package adds its own verbs: register(sub) sets `handler` (async (settings, args) -> int).
        importlib.import_module(module_name).register(sub)
    return parser


# Packages that contribute CLI verbs (fifo rebuild/check, report …, halt/resume, simulator keygen, bench).
PLUGIN_CLIS: list[str] = [
    name for name in ("fifo_engine.cli", "reports.cli", "risk.cli", "simulator.cli", "bench.cli", "core.healthcheck",
                      "diagnostics.cli", "webhook.durability_cli", "replay.cli")
    if _module_exists(name)
]


# Commands that run until stopped; every other verb is a one-shot whose result is on stdout.
DAEMON_COMMANDS = {"webhook", "sighook", "both", "simulator"}
VERBOSE_FLAGS = ("-v", "--verbose")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Liberal: `-v` works before or after the verb (`fifo check -v`), not only where argparse wants it.
    verbose = any(a in VERBOSE_FLAGS for a in argv)
    words = _words(argv)
    if words[:1] == ["healthcheck"]:
        # Containers probe every few seconds: answered before settings, logging or any verb is imported.
        from core.healthcheck import run_standalone

        return run_standalone(words[1:])
    import asyncio

    from core.alert_secret import AlertSecretError
    from core.settings import SettingsError, env_example, load_settings

    args = build_parser().parse_args(words)
    if args.command == "config" and args.what == "example":
        sys.stdout.write(env_example())
        return 0
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"bottrader: {exc}", file=sys.stderr)
        return 2

    from core.logging import configure_logging

    configure_logging(_log_level(settings.log_level, args.command, verbose), settings.log_format,
                      secrets=_secret_values(settings))
    if args.command == "config":
        import json

        if args.json:
            print(json.dumps(redacted_config(settings), indent=2, default=str))
        else:
            sys.stdout.write(config_lines(redacted_config(settings)))
        return 0
    from core.paper_endpoints import with_paper_endpoints

    settings = with_paper_endpoints(settings)  # PAPER_SIMULATOR_HOST (docker compose); no-op otherwise
    runner = getattr(args, "handler", None) or _COMMANDS[args.command]
    try:
        return asyncio.run(runner(settings, args))
    except KeyboardInterrupt:
        return 130
    except AlertSecretError as exc:
        print(f"bottrader: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        if _is_port_taken(exc):
            print(f"bottrader: cannot listen: {exc}. Another program holds that port: stop it, or choose another "
                  "with WEBHOOK_PORT, SIM_REST_PORT or SIM_WS_PORT", file=sys.stderr)
            return 6
        if _is_database_unreachable(exc):
            print(f"bottrader: cannot use the database: {exc}", file=sys.stderr)
            return 4
        raise


def _log_level(configured: str, command: str, verbose: bool) -> str:
    """Daemons log at LOG_LEVEL; one-shot verbs keep stderr to warnings unless -v (their result is on stdout)."""
    if command in DAEMON_COMMANDS or verbose:
        return configured
    order = ["DEBUG", "INFO", "WARNING", "ERROR"]
    return configured if order.index(configured) >= order.index("WARNING") else "WARNING"


def config_lines(config: dict[str, Any]) -> str:
    """`config show`: one `NAME=value` line per setting, like `.env` (secrets already redacted)."""
    out = []
    for name, value in config.items():
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        elif value is None:
            value = ""
        elif isinstance(value, bool):
            value = "true" if value else "false"
        out.append(f"{name.upper()}={value}")
    return "\n".join(out) + "\n"


def _is_port_taken(exc: BaseException) -> bool:
    """A listening socket found its port in use (an OSError too, which the database check below would claim)."""
    import errno

    return isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE


def _is_database_unreachable(exc: BaseException) -> bool:
    import asyncpg

    return isinstance(exc, (OSError, asyncpg.InvalidCatalogNameError, asyncpg.InvalidPasswordError,
                            asyncpg.InvalidAuthorizationSpecificationError, asyncpg.CannotConnectNowError))


def _secret_values(settings: Settings) -> list[str]:
    values = [settings.coinbase_api_secret.get_secret_value(), settings.admin_token.get_secret_value()]
    values += settings.webhook_secret_list() + settings.notify_url_list()
    if settings.database_url is not None:
        from sqlalchemy.engine import make_url

        pw = make_url(settings.database_url.get_secret_value()).password
        if pw:
            values.append(str(pw))
    return [v for v in values if v]


def redacted_config(settings: Settings) -> dict[str, Any]:
    from core.logging import mask_key
    from shared_data.db import redact_url

    data = settings.model_dump(mode="json")
    if settings.database_url is not None:
        data["database_url"] = redact_url(settings.database_url.get_secret_value())
    data["coinbase_api_key"] = mask_key(settings.coinbase_api_key) if settings.coinbase_api_key else ""
    return data


async def _cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    from core.logging import get_logger
    from shared_data import migrate
    from shared_data.server import database_url

    async with database_url(settings) as url:
        await migrate.upgrade(url)
        await migrate.set_view_timezone(url, settings.tax_timezone)
        revision = await migrate.current_revision(url)
        get_logger("main").info("migrated", revision=revision, tax_timezone=settings.tax_timezone)
    print(f"database at schema revision {revision} (head)")
    return 0


async def _cmd_mode(settings: Settings, args: argparse.Namespace) -> int:
    from core.lifecycle import install_exception_handler, install_stop_signals
    from core.logging import get_logger

    log = get_logger("main")
    install_exception_handler()
    stop = install_stop_signals()
    log.info("starting", mode=args.command, trading_mode=settings.trading_mode.value)
    log.debug("config", config=redacted_config(settings))  # the whole of it: `config show`
    from simulator.store import StateLocked
    from webhook.account_check import AccountMismatch

    if args.command == "simulator":
        from simulator.standalone import run_simulator

        try:
            await run_simulator(settings, stop)
        except StateLocked as exc:
            print(f"bottrader: {exc}", file=sys.stderr)
            return 5
        log.info("stopped", mode=args.command)
        return 0

    from shared_data import migrate
    from shared_data.db import ping
    from shared_data.server import database_url

    async with database_url(settings) as url:
        log.info("database_connected", server=(await ping(url)).split(",")[0])
        if args.migrate:
            await migrate.upgrade(url)
        try:
            await migrate.ensure_at_head(url)
        except migrate.SchemaNotAtHead as exc:
            print(f"bottrader: {exc}", file=sys.stderr)
            return 3
        try:
            await _MODES[args.command](settings, url, stop)
        except (AccountMismatch, StateLocked) as exc:  # one line, nothing traded or written
            print(f"bottrader: {exc}", file=sys.stderr)
            return 5
    log.info("stopped", mode=args.command)
    return 0


async def _run_webhook(settings: Settings, url: str, stop: asyncio.Event) -> None:
    from webhook.daemon import run_webhook

    await run_webhook(settings, url, stop)


async def _run_sighook(settings: Settings, url: str, stop: asyncio.Event) -> None:
    from sighook.daemon import run_sighook
    from sighook.paper_credentials import with_paper_credentials

    await run_sighook(await with_paper_credentials(settings), url, stop)


async def _run_both(settings: Settings, url: str, stop: asyncio.Event) -> None:
    from webhook.daemon import run_both

    await run_both(settings, url, stop)


_MODES: dict[str, Callable[[Settings, str, asyncio.Event], Awaitable[None]]] = {
    "webhook": _run_webhook,
    "sighook": _run_sighook,
    "both": _run_both,
}
_COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int]]] = {
    "migrate": _cmd_migrate,
    "webhook": _cmd_mode,
    "sighook": _cmd_mode,
    "both": _cmd_mode,
    "simulator": _cmd_mode,
}


def _words(argv: list[str]) -> list[str]:
    """The command line without `-v`/`--verbose`, which may stand anywhere in it."""
    return [a for a in argv if a not in VERBOSE_FLAGS]


def _is_one_shot(argv: list[str]) -> bool:
    words = _words(argv)
    return bool(words) and not words[0].startswith("-") and words[0] not in DAEMON_COMMANDS


def _end_one_shot(code: int) -> NoReturn:
    """A one-shot verb's end without the interpreter's teardown of every module it loaded (pandas, numba,
    SQLAlchemy: ≈ 0.25 s of each `main.py replay` or `report` here, after the result is out). What a normal exit
    does that matters still happens: the atexit handlers (logging's flush, pgserver's and a worker pool's
    bookkeeping) and the flush of stdout and stderr, whose failure exits 120 as the interpreter's own does
    (output lost to a full disk must not look like success). Taken only when the main thread is the last
    one (another — a notification being sent, an executor's worker — gets the normal exit, which waits for
    it) and when nothing traces or profiles the run (`python -m cProfile main.py …` writes its profile after
    the script returns)."""
    import atexit
    import os
    import threading

    if threading.active_count() > 1 or _watched():
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        if stream is None:  # started with the stream closed (`>&-`)
            continue
        try:
            stream.flush()
        except (OSError, ValueError):
            code = 120
    os._exit(code)


def _watched() -> bool:
    """A tracer, profiler, debugger or coverage tool is attached (sys.settrace/setprofile, or a sys.monitoring
    tool: cProfile registers one from Python 3.12)."""
    if sys.gettrace() is not None or sys.getprofile() is not None:
        return True
    monitoring = getattr(sys, "monitoring", None)
    return monitoring is not None and any(monitoring.get_tool(i) is not None for i in range(6))


if __name__ == "__main__":
    exit_code = main()
    if _is_one_shot(sys.argv[1:]):
        _end_one_shot(exit_code)
    sys.exit(exit_code)
