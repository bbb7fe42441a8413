"""Which exchange account the database belongs to: recorded on the first start, compared on every later one.

Paper: the simulator account's id (the portfolio uuid its key permissions report; a wiped simulator
state is a new account). Live: the API key's name and its portfolio uuid from
`get_api_key_permissions`. A mismatch — a wiped simulator under a kept database, another key, a
restored backup — stops the start before anything is traded or written, with one line that says
what differs and which command resolves it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.logging import get_logger, mask_key
from core.settings import Settings
from exchange.port import ExchangeError, ExchangePort

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class AccountIdentity:
    trading_mode: str  # paper / live
    portfolio_uuid: str
    key_name: str | None  # live only: the in-process simulator draws a fresh key on every start

    def describe(self) -> str:
        key = f", key {mask_key(self.key_name)}" if self.key_name else ""
        return f"{self.trading_mode} account {self.portfolio_uuid}{key}"


class AccountMismatch(RuntimeError):
    """The exchange account is not the one this database belongs to."""


async def identify(settings: Settings, exchange: ExchangePort, key_name: str) -> AccountIdentity:
    try:
        perms = await exchange.get_key_permissions()
    except ExchangeError as exc:  # unverifiable is as bad as wrong: do not trade
        raise AccountMismatch(f"refusing to start: cannot tell which account the exchange is ({exc}); "
                              "check the exchange settings and try again") from exc
    return AccountIdentity(settings.trading_mode.value, perms.portfolio_uuid,
                           None if settings.is_paper else key_name)


def mismatch(stored: AccountIdentity, current: AccountIdentity) -> str | None:
    """One line naming what differs and the command that resolves it; None when they agree. Pure."""
    if stored == current:
        return None
    differs = [name for name in ("trading_mode", "portfolio_uuid", "key_name")
               if getattr(stored, name) != getattr(current, name)]
    if current.trading_mode == "paper" and stored.trading_mode == "paper":
        fix = ("the simulator's state was removed or replaced; `python main.py paper reset` wipes the paper "
               "account and this database's trading tables together and lets it start clean")
    elif differs == ["key_name"]:
        fix = ("if the new key belongs to the same account, `python main.py account adopt` records it; otherwise "
               "point DATABASE_URL at this account's database")
    else:
        fix = "point DATABASE_URL at this account's database (or use a fresh database for it)"
    return (f"refusing to start: this database belongs to {stored.describe()} but the exchange is "
            f"{current.describe()} ({', '.join(differs)} differ); {fix}")


_SELECT = text("SELECT trading_mode, portfolio_uuid, key_name FROM account_identity WHERE id = 1")
_INSERT = text("""INSERT INTO account_identity (id, trading_mode, portfolio_uuid, key_name)
                  VALUES (1, :mode, :portfolio, :key)
                  ON CONFLICT (id) DO UPDATE SET trading_mode = excluded.trading_mode,
                      portfolio_uuid = excluded.portfolio_uuid, key_name = excluded.key_name, recorded_at = now()""")


async def stored_identity(session: AsyncSession) -> AccountIdentity | None:
    row = (await session.execute(_SELECT)).first()
    return None if row is None else AccountIdentity(row[0], row[1], row[2])


async def record_identity(session: AsyncSession, identity: AccountIdentity) -> None:
    await session.execute(_INSERT, {"mode": identity.trading_mode, "portfolio": identity.portfolio_uuid,
                                    "key": identity.key_name})


async def verify_account(sessions: async_sessionmaker[AsyncSession], current: AccountIdentity) -> None:
    """Record the identity on the first start; raise AccountMismatch on a later start against another."""
    async with sessions() as session, session.begin():
        stored = await stored_identity(session)
        if stored is None:
            await record_identity(session, current)
            log.info("account_identity_recorded", account=current.describe())
            return
    problem = mismatch(stored, current)
    if problem is not None:
        log.error("account_mismatch", stored=stored.describe(), exchange=current.describe())
        raise AccountMismatch(problem)
    log.info("account_identity_verified", account=current.describe())
