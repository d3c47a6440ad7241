# Ronghe 融合 — production image. SQLite by default; set RONGHE_DATABASE_URL for PostgreSQL.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    RONGHE_ENVIRONMENT=production \
    RONGHE_DATA_DIR=/var/lib/ronghe \
    RONGHE_HOST=0.0.0.0 \
    RONGHE_PORT=8000

# Pango and a CJK font for PDF reports with Chinese text.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-wqy-zenhei \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 ronghe \
    && useradd --system --uid 10001 --gid ronghe --home-dir /app ronghe

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY migrations ./migrations
COPY seed ./seed
# Bytecode compiled at build time: the image never writes it (PYTHONDONTWRITEBYTECODE, a
# non-root user), and each worker would otherwise compile every module as it starts.
RUN pip install -e . \
    && python -m compileall -q app migrations seed \
    && pybabel --quiet compile -d app/i18n/locales -D messages \
    && mkdir -p /var/lib/ronghe \
    && chown ronghe:ronghe /var/lib/ronghe

USER 10001
VOLUME ["/var/lib/ronghe"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD ["ronghe", "health"]
# Migrations and the catalogue are applied on start; both are idempotent.
CMD ["ronghe", "serve", "--migrate"]
