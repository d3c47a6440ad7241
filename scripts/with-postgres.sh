#!/usr/bin/env bash
# Runs a command against a throwaway PostgreSQL cluster on 127.0.0.1, removed afterwards.
# Exports TEST_DATABASE_URL (and TEST_DATABASE_URL_BROWSER for the live-server tests).
set -euo pipefail
PGBIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
PGPORT="${PGPORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}"
PGTMP="$(mktemp -d)"
chown postgres:postgres "$PGTMP"   # initdb refuses to run as root
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
stop_pg() {
  as_pg "$PGBIN/pg_ctl" -D "$PGTMP/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$PGTMP"
}
trap stop_pg EXIT
as_pg "$PGBIN/initdb" -D "$PGTMP/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$PGTMP/data" -l "$PGTMP/log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $PGTMP -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
  start >/dev/null
for db in ronghe_test ronghe_browser; do
  as_pg "$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres "$db"
done
export TEST_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:$PGPORT/ronghe_test"
export TEST_DATABASE_URL_BROWSER="postgresql+psycopg://postgres@127.0.0.1:$PGPORT/ronghe_browser"
echo "throwaway PostgreSQL on 127.0.0.1:$PGPORT"
"$@"
