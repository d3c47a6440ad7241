#!/usr/bin/env bash
# The tables of docs/benchmarks.md, over HTTP, in one command (`make bench`):
# the large data set plus a 1,209-requirement catalogue, on SQLite and on a throwaway
# PostgreSQL, with the production worker count, then one worker against three on the pages
# that show whether throughput grows with workers. Not part of `make test`; run it while
# nothing else runs on the machine.
#
#   BENCH_DIR=/tmp/ronghe-bench REPEAT=3 DURATION=5s bench/http_all.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
PY="$ROOT/.venv/bin/python"
BENCH_DIR="${BENCH_DIR:-/tmp/ronghe-bench}"
REPEAT="${REPEAT:-3}"
DURATION="${DURATION:-5s}"
export RONGHE_SCHEDULER=off
mkdir -p "$BENCH_DIR"

generate() {  # data dir [database url]
  if [ ! -f "$1/large-dataset.json" ]; then
    echo "generating the large data set in $1 (a few minutes)"
    (
      export RONGHE_DATA_DIR="$1"
      if [ -n "${2:-}" ]; then export RONGHE_DATABASE_URL="$2"; fi
      "$ROOT/.venv/bin/ronghe" demo --scale large
      "$PY" -m bench.catalogue --requirements 1209 --out "$1/catalogue-1209.yaml"
      "$ROOT/.venv/bin/ronghe" seed --file "$1/catalogue-1209.yaml"
    )
  fi
}

measure() {  # name data dir [database url] -- extra arguments
  local name="$1" dir="$2" url="$3"
  shift 3
  "$PY" -m bench.http --data-dir "$dir" ${url:+--database-url "$url"} \
    --catalogue-requirements 1209 --repeat "$REPEAT" --duration "$DURATION" \
    --json "$BENCH_DIR/$name.json" "$@" | tee "$BENCH_DIR/$name.md"
}

if [ "${1:-}" = "--inside-postgres" ]; then
  generate "$BENCH_DIR/postgresql" "$TEST_DATABASE_URL"
  # Fresh statistics after the bulk load, as an operator would after a restore.
  "$PY" -c 'import sys; from sqlalchemy import create_engine
with create_engine(sys.argv[1], isolation_level="AUTOCOMMIT").connect() as c:
    c.exec_driver_sql("VACUUM ANALYZE")' "$TEST_DATABASE_URL"
  measure postgresql "$BENCH_DIR/postgresql" "$TEST_DATABASE_URL"
  exit 0
fi

generate "$BENCH_DIR/sqlite"
measure sqlite "$BENCH_DIR/sqlite" ""
for workers in 1 3; do
  measure "sqlite-workers-$workers" "$BENCH_DIR/sqlite" "" --workers "$workers" \
    --only '^/dashboard$|^/api/v1/audits$'
done
rm -rf "$BENCH_DIR/postgresql"  # the throwaway server starts empty
bash "$ROOT/scripts/with-postgres.sh" "$ROOT/bench/http_all.sh" --inside-postgres
echo "tables: $BENCH_DIR/*.md"
