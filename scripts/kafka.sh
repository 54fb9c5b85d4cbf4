#!/usr/bin/env bash
# A real Apache Kafka broker for development and tests: one node in KRaft
# combined mode (broker + controller), listening on 127.0.0.1 only.
#
#   scripts/kafka.sh up | down | status | logs [-f]
#
# The Kafka version is the kafka.version property of scripts/kafka/pom.xml (the
# only place it is written). Maven resolves the broker's jars once into
# .cache/kafka/<version>/libs; each broker keeps its state in .run/kafka-<port>/
# (server.properties, data/, kafka.log, kafka.pid).
#
# Environment:
#   KAFKA_PORT             client (PLAINTEXT) port                  default 9092
#   KAFKA_CONTROLLER_PORT  KRaft controller port                    default KAFKA_PORT+1
#   KAFKA_HEAP_OPTS        JVM heap                                 default -Xmx512m -Xms256m
#   KAFKA_START_TIMEOUT    seconds `up` waits for a usable broker   default 90
#   KEEP_DATA=1            `down` keeps the data folder (the next `up` reuses it)
#   PYTHON                 interpreter with kafka-python, for the readiness probe
#                          default .venv/bin/python, else python3
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HOST=127.0.0.1
PORT=${KAFKA_PORT:-9092}
CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-$((PORT + 1))}
START_TIMEOUT=${KAFKA_START_TIMEOUT:-90}
POM=$ROOT/scripts/kafka/pom.xml
LOG4J_CONFIG=$ROOT/scripts/kafka/log4j2.properties
RUN=$ROOT/.run/kafka-$PORT
DATA=$RUN/data
PIDFILE=$RUN/kafka.pid
LOG=$RUN/kafka.log
PROPS=$RUN/server.properties

die() {
    echo "kafka.sh: $*" >&2
    exit 1
}

VERSION=$(sed -n 's:.*<kafka\.version>[[:space:]]*\([^<[:space:]]*\)[[:space:]]*</kafka\.version>.*:\1:p' "$POM" | head -n 1)
[[ -n $VERSION ]] || die "no <kafka.version> property in $POM"
CACHE=$ROOT/.cache/kafka/$VERSION
LIBS=$CACHE/libs

if [[ -n ${PYTHON:-} ]]; then
    PY=$PYTHON
elif [[ -x $ROOT/.venv/bin/python ]]; then
    PY=$ROOT/.venv/bin/python
else
    PY=python3
fi

# ---------------------------------------------------------------- helpers

# pid from the pid file, if that process is alive and is our broker.
our_pid() {
    local pid args
    [[ -f $PIDFILE ]] || return 1
    pid=$(head -n 1 "$PIDFILE" 2>/dev/null || true)
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    # Guard against a recycled pid: the process must be this broker.
    if [[ -r /proc/$pid/cmdline ]]; then
        args=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
    else
        args=$(ps -ww -o args= -p "$pid" 2>/dev/null || true)
    fi
    [[ $args == *kafka.Kafka*"$PROPS"* ]] || return 1
    echo "$pid"
}

port_open() {
    (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

log_tail() {
    if [[ -f $LOG ]]; then
        echo "---- last lines of $LOG ----" >&2
        tail -n "${1:-60}" "$LOG" >&2
        echo "----" >&2
    fi
}

need_java() {
    command -v java >/dev/null 2>&1 \
        || die "needs Java 17+ and Maven (java and mvn on PATH) to fetch and run Apache Kafka $VERSION"
    local major
    major=$(java -XshowSettings:properties -version 2>&1 \
        | sed -n 's/^[[:space:]]*java\.specification\.version = \([0-9]*\).*/\1/p')
    [[ -n $major && $major -ge 17 ]] \
        || die "needs Java 17+ (found java.specification.version ${major:-unknown}) and Maven"
}

# Maven, quiet; its output (stray colour codes included) only shown on failure.
mvn_quiet() {
    local out rc=0
    out=$(mvn -q -B -Dstyle.color=never "$@" 2>&1) || rc=$?
    if [[ $rc -ne 0 ]]; then
        printf '%s\n' "$out" | sed 's/\x1b\[[0-9;]*m//g' | tail -n 40 >&2
    fi
    return "$rc"
}

# Resolve the broker's jars once per Kafka version.
ensure_libs() {
    [[ -f $CACHE/.complete && -d $LIBS ]] && return 0
    command -v mvn >/dev/null 2>&1 \
        || die "needs Java 17+ and Maven (mvn on PATH) to fetch Apache Kafka $VERSION's jars"
    mkdir -p "$CACHE"
    local tmp binding log4j slf4j
    tmp=$(mktemp -d "$CACHE/.libs.XXXXXX")
    echo "kafka.sh: resolving Apache Kafka $VERSION jars with Maven into ${LIBS#"$ROOT"/} ..."
    if ! (cd "$ROOT/scripts/kafka" && mvn_quiet dependency:copy-dependencies \
        -DoutputDirectory="$tmp" -DincludeScope=runtime); then
        rm -rf "$tmp"
        die "Maven could not resolve org.apache.kafka:kafka_2.13:$VERSION (see above)"
    fi
    # The broker logs through SLF4J, but its published runtime dependencies carry
    # no SLF4J binding (the binary distribution adds one): without it the broker
    # logs nothing at all. Add the log4j2 binding matching the resolved log4j-core.
    if ! compgen -G "$tmp/log4j-slf4j*-impl-*.jar" >/dev/null; then
        log4j=$(find "$tmp" -maxdepth 1 -name 'log4j-core-*.jar' -printf '%f\n' \
            | sed -n 's/^log4j-core-\(.*\)\.jar$/\1/p' | head -n 1)
        slf4j=$(find "$tmp" -maxdepth 1 -name 'slf4j-api-*.jar' -printf '%f\n' \
            | sed -n 's/^slf4j-api-\([0-9]*\)\..*/\1/p' | head -n 1)
        [[ -n $log4j ]] || { rm -rf "$tmp"; die "no log4j-core among Kafka $VERSION's dependencies"; }
        if [[ ${slf4j:-1} -ge 2 ]]; then binding=log4j-slf4j2-impl; else binding=log4j-slf4j-impl; fi
        if ! mvn_quiet dependency:copy -Dartifact="org.apache.logging.log4j:$binding:$log4j" \
            -DoutputDirectory="$tmp"; then
            rm -rf "$tmp"
            die "Maven could not resolve org.apache.logging.log4j:$binding:$log4j"
        fi
    fi
    chmod 755 "$tmp"
    rm -rf "$LIBS"
    mv "$tmp" "$LIBS"
    touch "$CACHE/.complete"
}

cluster_id() {
    # A Kafka cluster id is a random UUID in base64url without padding (22 chars).
    # Avoid a leading '-', which a command line would take for an option.
    local id
    id=$("$PY" - 2>/dev/null <<'EOF' || true
import base64, uuid
while True:
    s = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not s.startswith("-"):
        print(s)
        break
EOF
    )
    if [[ -z $id ]]; then
        id=$(java -cp "$LIBS/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
    fi
    [[ -n $id ]] || die "could not generate a cluster id"
    echo "$id"
}

write_properties() {
    cat >"$PROPS" <<EOF
# Written by scripts/kafka.sh: a single-node KRaft cluster on $HOST, for development and tests.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=$HOST:$CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA

auto.create.topics.enable=false
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
delete.topic.enable=true
# Keep every record: tests, the demo and replays produce records stamped in the past, which
# the default 7-day retention would delete within 5 minutes (the retention check interval).
log.retention.ms=-1
EOF
}

# Wait until a client can create (and delete) a topic, while the broker lives.
# Exit codes: 0 ready, 1 timed out, 2 broker process died, 3 no kafka-python.
probe() {
    local pid=$1 timeout=$2
    "$PY" - "$HOST:$PORT" "$pid" "$timeout" <<'EOF'
import os, sys, time, uuid

try:
    from kafka.admin import KafkaAdminClient
except ImportError:
    print("kafka.sh: the readiness probe needs kafka-python (make venv)", file=sys.stderr)
    sys.exit(3)

bootstrap, pid, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
deadline = time.monotonic() + timeout
last = "no attempt"


def alive() -> bool:
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


while True:
    if not alive():
        print(f"kafka.sh: broker process {pid} exited", file=sys.stderr)
        sys.exit(2)
    admin = None
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            client_id="segsync-kafka-sh-probe",
            request_timeout_ms=10000,
            bootstrap_timeout_ms=3000,
        )
        name = f"segsync-probe-{uuid.uuid4().hex[:12]}"
        admin.create_topics({name: {"num_partitions": 1, "replication_factor": 1}})
        try:
            admin.delete_topics([name])
        except Exception:
            pass
        sys.exit(0)
    except Exception as exc:
        last = f"{type(exc).__name__}: {exc}"
    finally:
        if admin is not None:
            try:
                admin.close()
            except Exception:
                pass
    if time.monotonic() >= deadline:
        print(f"kafka.sh: no usable broker at {bootstrap} after {timeout:.0f}s ({last})",
              file=sys.stderr)
        sys.exit(1)
    time.sleep(0.5)
EOF
}

lock() {
    mkdir -p "$ROOT/.run"
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$ROOT/.run/kafka-$PORT.lock"
        flock -w 180 9 || die "another kafka.sh holds $ROOT/.run/kafka-$PORT.lock"
    fi
}

# ---------------------------------------------------------------- commands

cmd_up() {
    local pid started rc
    lock
    if pid=$(our_pid); then
        if probe "$pid" "$START_TIMEOUT" 2>/dev/null; then
            echo "kafka.sh: Kafka $VERSION already running on $HOST:$PORT (pid $pid)"
            return 0
        fi
        log_tail
        die "broker pid $pid is alive but $HOST:$PORT does not answer; try: scripts/kafka.sh down"
    fi
    rm -f "$PIDFILE"
    for p in "$PORT" "$CONTROLLER_PORT"; do
        if port_open "$p"; then
            die "port $HOST:$p is already in use by another process (set KAFKA_PORT / KAFKA_CONTROLLER_PORT)"
        fi
    done
    need_java
    ensure_libs

    mkdir -p "$RUN"
    [[ -f $LOG ]] && mv -f "$LOG" "$LOG.prev"
    : >"$LOG"
    write_properties

    local java_opts=(
        ${KAFKA_HEAP_OPTS:--Xmx512m -Xms256m}
        -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
        -Djava.awt.headless=true
        "-Dlog4j2.configurationFile=$LOG4J_CONFIG"
        "-Dkafka.logs.dir=$RUN"
    )

    if [[ ! -f $DATA/meta.properties ]]; then
        rm -rf "$DATA"
        local cid
        cid=$(cluster_id)
        if ! java -Xmx256m "-Dlog4j2.configurationFile=$LOG4J_CONFIG" "-Dkafka.logs.dir=$RUN" \
            -cp "$LIBS/*" kafka.tools.StorageTool format --standalone -t "$cid" -c "$PROPS" \
            >>"$LOG" 2>&1; then
            log_tail
            die "formatting the KRaft storage in $DATA failed"
        fi
    fi

    started=$(date +%s)
    local attempt
    for attempt in 1 2 3; do
        # setsid: own session, so the terminal's signals (Ctrl-C in make/pytest) do
        # not reach the broker; the inner shell writes its pid and becomes java.
        # shellcheck disable=SC2016
        nohup setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' kafka-sh "$PIDFILE" \
            java "${java_opts[@]}" -cp "$LIBS/*" kafka.Kafka "$PROPS" \
            >>"$LOG" 2>&1 </dev/null 9>&- &
        for _ in $(seq 1 50); do
            [[ -s $PIDFILE ]] && break
            sleep 0.1
        done
        pid=$(head -n 1 "$PIDFILE" 2>/dev/null || true)
        [[ $pid =~ ^[0-9]+$ ]] || { log_tail; die "the broker did not start (no pid)"; }

        rc=0
        probe "$pid" "$START_TIMEOUT" || rc=$?
        # A port inside the kernel's ephemeral range can be held for a moment by some client
        # socket's local end (nothing listens, so the check above passed): wait and start again.
        if [[ $rc -ne 0 && $attempt -lt 3 ]] && ! kill -0 "$pid" 2>/dev/null \
            && grep -q "Address already in use" "$LOG"; then
            echo "kafka.sh: $HOST:$PORT or $CONTROLLER_PORT was briefly in use; starting again" >&2
            rm -f "$PIDFILE"
            : >"$LOG"
            sleep 3
            continue
        fi
        break
    done
    if [[ $rc -ne 0 ]]; then
        log_tail 80
        # Whatever the probe's reason (timed out, or no kafka-python to probe with), a
        # broker left running would hold the port and its memory: the next try leaks another.
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
        fi
        die "Kafka $VERSION did not become usable on $HOST:$PORT (full log: $LOG)"
    fi
    echo "kafka.sh: Kafka $VERSION up on $HOST:$PORT (pid $pid, $(($(date +%s) - started))s, log ${LOG#"$ROOT"/})"
}

cmd_down() {
    local pid
    lock
    if pid=$(our_pid); then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 300); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "kafka.sh: broker pid $pid still alive after 30s, sending SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
            for _ in $(seq 1 50); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
        fi
        echo "kafka.sh: stopped Kafka on $HOST:$PORT (pid $pid)"
    else
        echo "kafka.sh: Kafka on $HOST:$PORT is not running"
    fi
    rm -f "$PIDFILE"
    if [[ ${KEEP_DATA:-0} != 1 ]]; then
        rm -rf "$DATA"
    fi
}

cmd_status() {
    local pid
    if pid=$(our_pid); then
        echo "running (Kafka $VERSION, $HOST:$PORT, pid $pid)"
        return 0
    fi
    echo "stopped (Kafka on $HOST:$PORT)"
    return 3
}

cmd_logs() {
    [[ -f $LOG ]] || die "no log yet at $LOG"
    if [[ ${1:-} == -f ]]; then
        exec tail -n 100 -F "$LOG"
    fi
    tail -n "${LOG_LINES:-200}" "$LOG"
}

case ${1:-} in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    logs) shift; cmd_logs "$@" ;;
    *)
        echo "usage: $0 up|down|status|logs [-f]" >&2
        exit 2
        ;;
esac
