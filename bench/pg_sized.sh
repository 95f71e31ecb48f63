#!/bin/sh
# A PostgreSQL server configured as docs/deployment.md sizes one, for the benchmarks that depend on memory.
#
# The machine's own server keeps PostgreSQL's defaults (128 MB shared_buffers, autovacuum off); the 5,000,000-finding
# benchmarks were first measured there. This starts a second cluster beside it, on its own port and directory, with
# the settings docs/deployment.md recommends ("Memory", "Autovacuum must be on", "On a larger box"), scaled to
# this machine's memory: shared_buffers a quarter, effective_cache_size three quarters, maintenance_work_mem 1 GB,
# max_wal_size raised, wal_compression lz4, autovacuum on with a raised cost limit.
#
#     sh bench/pg_sized.sh start      # initdb on first use, then start; prints the BENCH_DATABASE_URL prefix
#     sh bench/pg_sized.sh stop
#
# PG_SIZED_DIR (default /work/.pg-sized), PG_SIZED_PORT (5433), PG_BIN (PostgreSQL 15's bin directory).
set -eu
DIR=${PG_SIZED_DIR:-/work/.pg-sized}
PORT=${PG_SIZED_PORT:-5433}
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
RUN_AS=""
[ "$(id -u)" = 0 ] && RUN_AS="runuser -u postgres --"  # initdb and postgres refuse to run as root

case "${1:-start}" in
start)
  if [ ! -f "$DIR/PG_VERSION" ]; then
    mkdir -p "$DIR"
    [ -n "$RUN_AS" ] && chown postgres "$DIR"
    $RUN_AS "$PG_BIN/initdb" -D "$DIR" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    MEM_MB=$(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo)
    cat >>"$DIR/postgresql.conf" <<EOF
# docs/deployment.md, scaled to ${MEM_MB} MB of memory
listen_addresses = '127.0.0.1'
port = $PORT
shared_buffers = $((MEM_MB / 4))MB
effective_cache_size = $((MEM_MB * 3 / 4))MB
maintenance_work_mem = 1GB
max_wal_size = 16GB
checkpoint_timeout = 15min
wal_compression = lz4
autovacuum = on
autovacuum_vacuum_cost_limit = 2000
autovacuum_max_workers = 3
EOF
  fi
  $RUN_AS "$PG_BIN/pg_ctl" -D "$DIR" -l "$DIR/server.log" -w start >/dev/null
  echo "postgres://postgres@127.0.0.1:$PORT/"
  ;;
stop)
  $RUN_AS "$PG_BIN/pg_ctl" -D "$DIR" -m fast -w stop >/dev/null
  ;;
*)
  echo "usage: $0 start|stop" >&2
  exit 2
  ;;
esac
