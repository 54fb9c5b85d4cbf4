#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for development and tests, on 127.0.0.1.
#
#   scripts/pg.sh up | down | status | url
#
# The cluster lives in .run/pg-<port>/ (data/, postgres.log, the unix socket).
# PostgreSQL refuses to run as root: when this script runs as root, initdb and
# pg_ctl run as the `postgres` user, and if that user cannot reach the repo's
# .run folder the cluster goes to /tmp/segsync-pg-<port>-<hash of the repo path>
# instead (`up` says where).
#
# Environment:
#   PG_PORT      port                                   default 54329
#   PG_BIN       PostgreSQL server binaries             default /usr/lib/postgresql/15/bin,
#                                                       else the directory of initdb on PATH
#   KEEP_DATA=1  `down` keeps the data folder (the next `up` reuses it)
#
# The superuser is `segsync`, trusted without password on 127.0.0.1, and `up`
# creates the database `segsync`: `scripts/pg.sh url` prints the SQLAlchemy URL.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HOST=127.0.0.1
PORT=${PG_PORT:-54329}
PG_MAJOR=15
PGBIN=${PG_BIN:-/usr/lib/postgresql/$PG_MAJOR/bin}
# Not the Debian layout: the server binaries on PATH will do.
if [[ -z ${PG_BIN:-} && ! -x $PGBIN/postgres ]] && command -v initdb >/dev/null 2>&1; then
    PGBIN=$(dirname "$(command -v initdb)")
fi
DB_USER=segsync
DB_NAME=segsync
URL="postgresql+psycopg://$DB_USER@$HOST:$PORT/$DB_NAME"

die() {
    echo "pg.sh: $*" >&2
    exit 1
}

[[ $PORT =~ ^[0-9]+$ ]] || die "PG_PORT must be a number (got '$PORT')"

IS_ROOT=0
[[ $(id -u) -eq 0 ]] && IS_ROOT=1

# ---------------------------------------------------------------- where the cluster lives

RUN=$ROOT/.run/pg-$PORT
TMP_BASE=/tmp/segsync-pg-$PORT-$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)

# As root the server runs as `postgres`, which must be able to traverse every
# parent of the folder; otherwise use the /tmp fallback.
choose_base() {
    if [[ $IS_ROOT -eq 0 ]]; then
        echo "$RUN"
    elif [[ -d $TMP_BASE/data ]]; then
        echo "$TMP_BASE"
    elif mkdir -p "$ROOT/.run" && runuser -u postgres -- test -x "$ROOT/.run" 2>/dev/null; then
        echo "$RUN"
    else
        echo "$TMP_BASE"
    fi
}
BASE=$(choose_base)
DATA=$BASE/data
LOG=$BASE/postgres.log
SOCK_DIR=$BASE
# A unix socket path must fit in 107 bytes.
if ((${#SOCK_DIR} + ${#PORT} + 10 > 100)); then
    SOCK_DIR=/tmp
fi

# Run a command as the cluster's owner.
as_owner() {
    if [[ $IS_ROOT -eq 1 ]]; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

log_tail() {
    if [[ -f $LOG ]]; then
        echo "---- last lines of $LOG ----" >&2
        tail -n "${1:-40}" "$LOG" >&2
        echo "----" >&2
    fi
}

# ---------------------------------------------------------------- binaries

ensure_binaries() {
    [[ -x $PGBIN/postgres && -x $PGBIN/initdb && -x $PGBIN/pg_ctl ]] && return 0
    if [[ -z ${PG_BIN:-} && $IS_ROOT -eq 1 && -f /etc/debian_version ]] && command -v apt-get >/dev/null 2>&1; then
        echo "pg.sh: PostgreSQL $PG_MAJOR server binaries missing; installing them with apt-get ..."
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null
        apt-get install -y -qq "postgresql-$PG_MAJOR" >/dev/null \
            || die "apt-get could not install postgresql-$PG_MAJOR"
    fi
    [[ -x $PGBIN/postgres && -x $PGBIN/initdb && -x $PGBIN/pg_ctl ]] \
        || die "needs the PostgreSQL $PG_MAJOR server binaries in $PGBIN (Debian: apt-get install postgresql-$PG_MAJOR; or set PG_BIN)"
}

# ---------------------------------------------------------------- helpers

# The postmaster's pid, if the cluster in $DATA is running.
our_pid() {
    local pid args
    [[ -f $DATA/postmaster.pid ]] || return 1
    pid=$(head -n 1 "$DATA/postmaster.pid" 2>/dev/null || true)
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    if [[ -r /proc/$pid/cmdline ]]; then
        args=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
    else
        args=$(ps -ww -o args= -p "$pid" 2>/dev/null || true)
    fi
    [[ $args == *postgres*"$DATA"* ]] || return 1
    echo "$pid"
}

port_open() {
    (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

psql_q() {
    "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$HOST" -p "$PORT" -U "$DB_USER" -d postgres -tA -c "$1"
}

ensure_database() {
    if [[ $(psql_q "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'") != 1 ]]; then
        psql_q "CREATE DATABASE $DB_NAME" >/dev/null
    fi
}

lock() {
    mkdir -p "$ROOT/.run"
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$ROOT/.run/pg-$PORT.lock"
        flock -w 120 9 || die "another pg.sh holds $ROOT/.run/pg-$PORT.lock"
    fi
}

# ---------------------------------------------------------------- commands

cmd_up() {
    local pid started
    lock
    ensure_binaries
    if pid=$(our_pid); then
        if "$PGBIN/pg_isready" -q -h "$HOST" -p "$PORT" -t 30; then
            ensure_database
            echo "pg.sh: PostgreSQL already running on $HOST:$PORT (pid $pid, data $DATA)"
            return 0
        fi
        log_tail
        die "postmaster pid $pid is alive but $HOST:$PORT does not answer; try: scripts/pg.sh down"
    fi
    if port_open "$PORT"; then
        die "port $HOST:$PORT is already in use by another process (set PG_PORT)"
    fi
    started=$(date +%s)

    mkdir -p "$BASE"
    chmod 700 "$BASE"
    [[ $IS_ROOT -eq 1 ]] && chown postgres: "$BASE"
    [[ $BASE == "$TMP_BASE" ]] && echo "pg.sh: the postgres user cannot reach $ROOT/.run; the cluster lives in $BASE"

    if [[ ! -f $DATA/PG_VERSION ]]; then
        rm -rf "$DATA"
        if ! as_owner "$PGBIN/initdb" -D "$DATA" --auth=trust -U "$DB_USER" --encoding=UTF8 \
            --locale=C --no-sync >"$BASE/initdb.log" 2>&1; then
            cat "$BASE/initdb.log" >&2
            die "initdb failed"
        fi
        cat >>"$DATA/postgresql.conf" <<EOF

# ---- added by scripts/pg.sh: a throwaway cluster for development and tests ----
listen_addresses = '$HOST'
port = $PORT
unix_socket_directories = '$SOCK_DIR'
max_connections = 200
# Many SERIALIZABLE tests (each its own database) share one server: the default 64
# predicate locks per transaction ran out once under load (migrations are large).
max_pred_locks_per_transaction = 256
# This cluster's data is thrown away at 'down' and never needs to survive an OS
# crash, so durability is traded for speed. Never use these three on real data.
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
    fi

    : >"$LOG"
    [[ $IS_ROOT -eq 1 ]] && chown postgres: "$LOG"
    # A port inside the kernel's ephemeral range can be held for a moment by some client
    # socket's local end (nothing listens, so the check above passed): wait and start again.
    local attempt ok=0
    for attempt in 1 2 3; do
        if as_owner "$PGBIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start >/dev/null 9>&-; then
            ok=1
            break
        fi
        grep -q "could not bind" "$LOG" 2>/dev/null && [[ $attempt -lt 3 ]] || break
        echo "pg.sh: $HOST:$PORT was briefly in use; starting again" >&2
        sleep 3
    done
    if [[ $ok -ne 1 ]]; then
        log_tail
        die "PostgreSQL did not start on $HOST:$PORT (full log: $LOG)"
    fi
    pid=$(our_pid) || { log_tail; die "PostgreSQL started but its postmaster.pid is not usable"; }
    ensure_database
    echo "pg.sh: PostgreSQL $("$PGBIN/postgres" -V | awk '{print $3}') up on $HOST:$PORT (pid $pid, $(($(date +%s) - started))s, data $DATA)"
}

cmd_down() {
    local pid
    lock
    if pid=$(our_pid); then
        if [[ -x $PGBIN/pg_ctl ]]; then
            as_owner "$PGBIN/pg_ctl" -D "$DATA" -m fast -w -t 30 stop >/dev/null 2>&1 9>&- || true
        else
            kill -INT "$pid" 2>/dev/null || true # SIGINT = fast shutdown
        fi
        for _ in $(seq 1 300); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "pg.sh: postmaster pid $pid still alive after 30s, sending SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
        echo "pg.sh: stopped PostgreSQL on $HOST:$PORT (pid $pid)"
    else
        echo "pg.sh: PostgreSQL on $HOST:$PORT is not running"
    fi
    if [[ ${KEEP_DATA:-0} != 1 ]]; then
        rm -rf "$DATA" "$BASE/initdb.log"
        [[ $BASE == "$TMP_BASE" ]] && rm -rf "$TMP_BASE"
    fi
    return 0
}

cmd_status() {
    local pid
    if pid=$(our_pid); then
        echo "running (PostgreSQL, $HOST:$PORT, pid $pid, data $DATA)"
        return 0
    fi
    echo "stopped (PostgreSQL on $HOST:$PORT)"
    return 3
}

case ${1:-} in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    url) echo "$URL" ;;
    *)
        echo "usage: $0 up|down|status|url" >&2
        exit 2
        ;;
esac
