#!/usr/bin/env bash
# Load run: locust (headless) against `ronghe serve --workers N` on a throwaway PostgreSQL
# loaded with the demo enterprise. Not part of `make test`; results go in docs/benchmarks.md.
#
#   bench/load.sh                       # 50 users, spawn 10/s, 60 s, 3 workers
#   USERS=20 DURATION=30s WORKERS=2 bench/load.sh
#
# Scratch (data directory, server log, locust CSV/HTML) lives in $LOAD_DIR (/tmp/load-helper).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

USERS="${USERS:-50}"
SPAWN_RATE="${SPAWN_RATE:-10}"
DURATION="${DURATION:-60s}"
WORKERS="${WORKERS:-3}"
LOAD_DIR="${LOAD_DIR:-/tmp/load-helper}"
PY="$ROOT/.venv/bin/python"

if [ "${1:-}" != "--inside-postgres" ]; then
  if ! "$PY" -c 'import locust' >/dev/null 2>&1; then
    echo "installing locust into .venv"
    "$ROOT/.venv/bin/uv" pip install --python "$PY" 'locust>=2.30,<3'
  fi
  mkdir -p "$LOAD_DIR"
  exec "$ROOT/scripts/with-postgres.sh" "$ROOT/bench/load.sh" --inside-postgres
fi

# --- from here on, inside with-postgres.sh: TEST_DATABASE_URL points at an empty database ---
rm -rf "$LOAD_DIR/data" "$LOAD_DIR"/result_*.csv
export RONGHE_DATABASE_URL="$TEST_DATABASE_URL"
export RONGHE_DATA_DIR="$LOAD_DIR/data"
export RONGHE_SCHEDULER=off
export RONGHE_SECRET_KEY="$("$PY" -c 'import secrets; print(secrets.token_urlsafe(36))')"  # 48 chars
unset RONGHE_ENVIRONMENT

echo "migrating and seeding the demo into $RONGHE_DATABASE_URL"
"$ROOT/.venv/bin/ronghe" migrate
"$ROOT/.venv/bin/ronghe" seed --demo

PORT="$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
HOST="http://127.0.0.1:$PORT"
"$ROOT/.venv/bin/ronghe" serve --workers "$WORKERS" --host 127.0.0.1 --port "$PORT" \
  >"$LOAD_DIR/server.log" 2>&1 &
SERVER_PID=$!
stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
}
trap stop_server EXIT

for _ in $(seq 1 120); do
  if curl -fsS "$HOST/healthz" >/dev/null 2>&1 && curl -fsS "$HOST/login" >/dev/null 2>&1; then
    break
  fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "server exited:"; cat "$LOAD_DIR/server.log"; exit 1
  fi
  sleep 0.5
done
curl -fsS "$HOST/healthz" >/dev/null
echo "serving on $HOST with $WORKERS workers (log: $LOAD_DIR/server.log)"

if [ -n "${LOAD_EXPLORE:-}" ]; then  # keep the server up for poking at it by hand
  echo "$HOST" >"$LOAD_DIR/host"
  sleep "$LOAD_EXPLORE"
  exit 0
fi

status=0
"$ROOT/.venv/bin/locust" -f "$ROOT/bench/locustfile.py" --headless \
  -u "$USERS" -r "$SPAWN_RATE" -t "$DURATION" --stop-timeout 10 \
  --host "$HOST" --csv "$LOAD_DIR/result" --html "$LOAD_DIR/result.html" \
  --only-summary || status=$?

echo
echo "== summary ($LOAD_DIR/result_stats.csv) =="
"$PY" - "$LOAD_DIR/result_stats.csv" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print(f"{'name':55} {'reqs':>6} {'fail':>5} {'p50':>6} {'p95':>6} {'p99':>6} {'rps':>6}")
for r in rows:
    print(f"{(r['Type'] + ' ' + r['Name'])[:55]:55} {r['Request Count']:>6} {r['Failure Count']:>5} "
          f"{r['50%']:>6} {r['95%']:>6} {r['99%']:>6} {float(r['Requests/s']):6.1f}")
EOF
if [ -s "$LOAD_DIR/result_failures.csv" ] && [ "$(wc -l <"$LOAD_DIR/result_failures.csv")" -gt 1 ]; then
  echo; echo "== failures =="; cat "$LOAD_DIR/result_failures.csv"
fi
grep -E "Traceback|ERROR" "$LOAD_DIR/server.log" | head -20 || true
exit "$status"
