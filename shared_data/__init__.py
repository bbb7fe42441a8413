"""Persistence: models, engine/session, repositories, migrations helpers, embedded Postgres."""
