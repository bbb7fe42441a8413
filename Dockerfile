# bottrader image: one image, the mode is chosen by MODE (webhook | sighook | both | simulator | migrate).
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY core ./core
COPY exchange ./exchange
COPY simulator ./simulator
COPY shared_data ./shared_data
COPY fifo_engine ./fifo_engine
COPY market_data ./market_data
COPY risk ./risk
COPY sighook ./sighook
COPY webhook ./webhook
COPY reports ./reports
COPY diagnostics ./diagnostics
COPY replay ./replay
COPY migrations ./migrations
COPY main.py alembic.ini ./
RUN pip install .

# Non-root user; state (simulator CA and keys, generated alert secret and dashboard token) lives in
# /app/var, the `state` volume in compose. The folders exist in the image and belong to the user, so a
# new named volume is created with that owner and the simulator can write its CA and keys.
RUN useradd --create-home --uid 10001 bottrader \
    && mkdir -p /app/var/simulator \
    && chown -R bottrader:bottrader /app/var
USER bottrader

# No secrets are baked in: keys, webhook secrets and DATABASE_URL come from the environment at run time.
ENV MODE=both TRADING_MODE=paper
# pandas-ta's numba kernels compile on first use (seconds); site-packages is not the user's to write, so
# the compiled cache goes to the state volume, where every service and later containers find it.
ENV NUMBA_CACHE_DIR=/app/var/numba-cache
EXPOSE 5003 8443 8765
CMD ["sh", "-c", "exec python main.py \"$MODE\""]
