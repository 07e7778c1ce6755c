#!/usr/bin/env bash
# Email fan-out: 10,000 confirmed subscribers, one incident. Measures the latency of
# the posting request, the time until every mail has been accepted by postfix's
# smtp-sink, and mails per second — compared, in the same run and against the same
# sink, with `smtp-source -d` (connections kept open for many mails) pushing the same
# number of mails of the same size. Also: posting latency with 0 subscribers, the
# latency of an incident update posted while the mails go out, and (email_smtp_rtt.py)
# what one SMTP transaction costs when written the way Herald's SMTP client writes it.
# SQLite and PostgreSQL.
#
#   bash bench/email.sh                     # from the repo root
#
# Knobs (environment): BENCH_BACKENDS="sqlite postgres", BENCH_SUBSCRIBERS=10000,
# BENCH_SEED_WORKERS=4, BENCH_IDLE_POSTS=5 (timed posts with 0 subscribers),
# BENCH_SOURCE_SESSIONS=16 (smtp-source -s; Herald keeps up to 16 sends in flight over
# as many pooled connections), BENCH_MAX_SECONDS=900 (bound of every wait),
# BENCH_PG_ADMIN=postgres://postgres@127.0.0.1:5432, BENCH_BIN=path (a herald binary built
# elsewhere, e.g. from a clean checkout while the work tree does not compile: no build).
#
# Everything talks to 127.0.0.1 only; every loop is bounded in count and time.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$(pwd)
BENCH_DIR="$REPO/bench"

BACKENDS=${BENCH_BACKENDS:-"sqlite postgres"}
N=${BENCH_SUBSCRIBERS:-10000}
SEED_WORKERS=${BENCH_SEED_WORKERS:-4}
IDLE_POSTS=${BENCH_IDLE_POSTS:-5}
SESSIONS=${BENCH_SOURCE_SESSIONS:-16}
MAX_SECONDS=${BENCH_MAX_SECONDS:-900}
PG_ADMIN=${BENCH_PG_ADMIN:-postgres://postgres@127.0.0.1:5432}
MAIL_FROM="status@bench.example.com"
BIN=${BENCH_BIN:-"$REPO/target/release/herald"}
LOAD="$BENCH_DIR/email_load.py"

log() { printf '\n=== %s\n' "$*"; }
die() { printf 'bench/email.sh: %s\n' "$*" >&2; exit 1; }
# stop_server, drop_pg_db, ensure_wrk
source "$BENCH_DIR/lib.sh"

# --- 1. postfix's smtp-sink and smtp-source ----------------------------------------------
if ! command -v smtp-sink >/dev/null 2>&1 || ! command -v smtp-source >/dev/null 2>&1; then
    log "installing postfix (for smtp-sink and smtp-source; the mail server itself stays off)"
    SUDO=""
    [[ $(id -u) -eq 0 ]] || SUDO="sudo"
    echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postfix
    # Whatever the package started, it is not part of this benchmark.
    if $SUDO postfix status >/dev/null 2>&1; then
        $SUDO postfix stop || true
    fi
fi
command -v smtp-sink >/dev/null || die "smtp-sink is not available"
command -v smtp-source >/dev/null || die "smtp-source is not available"
command -v curl >/dev/null || die "curl is required"
command -v python3 >/dev/null || die "python3 is required"

# --- 2. build ----------------------------------------------------------------------------
if [[ -z "${BENCH_BIN:-}" ]]; then
    log "cargo build --release"
    cargo build --release
    [[ -x "$BIN" ]] || die "$BIN was not built"
    REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
    if [[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]]; then REV="$REV+dirty"; fi
    echo "herald built from $REV"
else
    [[ -x "$BIN" ]] || die "BENCH_BIN=$BIN is not an executable"
    REV="prebuilt $BIN"
    echo "herald: $BIN (BENCH_BIN, not built here)"
fi
CPUS=$(nproc)
log "machine: $CPUS CPU core(s) shared by everything: Herald, smtp-sink, smtp-source," \
    "the Python client and PostgreSQL; the figures are a lower bound for a dedicated server"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/herald-email-bench.XXXXXX")
SERVER_PID="" SINK_PID="" PG_DB=""

stop_sink() {
    if [[ -n "$SINK_PID" ]]; then
        kill "$SINK_PID" 2>/dev/null || true
        wait "$SINK_PID" 2>/dev/null || true
        SINK_PID=""
    fi
}

CURRENT_LOG=""
cleanup() {
    local rc=$?
    if [[ $rc -ne 0 && -n "$CURRENT_LOG" && -s "$CURRENT_LOG" ]]; then
        echo "--- last lines of $CURRENT_LOG" >&2
        tail -n 30 "$CURRENT_LOG" >&2
    fi
    stop_server
    stop_sink
    drop_pg_db
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# herald_env DIR DB_URL PORT [SMTP_URL]: sets HENV to the env(1) arguments for herald.
# (Run as `env "${HENV[@]}" "$BIN" serve &` straight from this shell, so that $! is the
# server's own PID: env execs herald.)
herald_env() {
    local dir=$1 db=$2 port=$3 smtp=${4:-}
    HENV=(-u HERALD_CONFIG -u HERALD_BASE_URL -u HERALD_LOG_FORMAT -u HERALD_SMTP_URL
        -u HERALD_MAIL_RATE -u HERALD_RUN_WORKER -u HERALD_MAIL_REPLY_TO
        HERALD_BIND="127.0.0.1:$port"
        HERALD_DATA_DIR="$dir/data"
        HERALD_DATABASE_URL="$db"
        HERALD_CONTENT_DIR="$dir/content"
        HERALD_MAIL_FROM="$MAIL_FROM"
        HERALD_MAIL_RATE=0
        RUST_LOG=warn)
    [[ -z "$smtp" ]] || HENV+=(HERALD_SMTP_URL="$smtp")
}

# start_server DIR DB_URL PORT [SMTP_URL]: starts herald serve, waits up to 60 s, sets KEY.
start_server() {
    local dir=$1 port=$3
    mkdir -p "$dir/content" "$dir/data"
    cp "$REPO/content/site.toml" "$dir/content/site.toml"
    herald_env "$@"
    CURRENT_LOG="$dir/server.log"
    env "${HENV[@]}" "$BIN" serve >"$dir/server.log" 2>&1 &
    SERVER_PID=$!
    local up=""
    for _ in $(seq 1 300); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        if curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$port/api/v2/summary.json" 2>/dev/null; then
            up=1
            break
        fi
        sleep 0.2
    done
    if [[ -z "$up" ]]; then
        cat "$dir/server.log" >&2
        die "herald did not come up ($dir)"
    fi
    KEY=$(env "${HENV[@]}" "$BIN" api-key create bench | tail -n1)
    [[ -n "$KEY" ]] || die "no API key"
}

check_log() {
    if grep -qiE '(^|[^a-z])(error|panicked)' "$1/server.log"; then
        echo "[$2] server log has errors:" >&2
        grep -iE '(^|[^a-z])(error|panicked)' "$1/server.log" | head -20 >&2
    fi
}

# --- 3. the size of one Herald mail (no SMTP server: Herald writes .eml files) ------------
log "probe: the size of one notification mail (Herald without SMTP writes it to a file)"
PROBE="$WORK/probe"
PROBE_PORT=$(free_port)
start_server "$PROBE" "sqlite:$PROBE/herald.db" "$PROBE_PORT"
python3 "$LOAD" probe --port "$PROBE_PORT" --key "$KEY" --outbox "$PROBE/data/outbox" \
    --max-seconds 30 --out "$WORK/probe.json"
stop_server
MAIL_BYTES=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bytes"])' "$WORK/probe.json")

# --- 4. one smtp-sink for the whole run --------------------------------------------------
SINK_PORT=$(free_port)
SINK_USER=()
[[ $(id -u) -ne 0 ]] || SINK_USER=(-u nobody)   # smtp-sink refuses to run as root without -u
smtp-sink -c "${SINK_USER[@]}" "127.0.0.1:$SINK_PORT" 1000 >"$WORK/sink.out" 2>"$WORK/sink.err" &
SINK_PID=$!
for _ in $(seq 1 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$SINK_PORT") 2>/dev/null && break
    kill -0 "$SINK_PID" 2>/dev/null || { cat "$WORK/sink.err" >&2; die "smtp-sink did not start"; }
    sleep 0.1
done
echo "smtp-sink on 127.0.0.1:$SINK_PORT (pid $SINK_PID)"

declare -A R   # results: R[backend.metric]=value

bench_backend() {
    local backend=$1
    local dir="$WORK/$backend" db port
    case $backend in
        sqlite) db="sqlite:$dir/herald.db" ;;
        postgres)
            PG_DB="herald_bench_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
            psql "$PG_ADMIN/postgres" -v ON_ERROR_STOP=1 -qAtc "CREATE DATABASE $PG_DB" >/dev/null
            db="$PG_ADMIN/$PG_DB"
            ;;
        *) die "unknown backend $backend" ;;
    esac
    port=$(free_port)
    log "[$backend] herald serve on 127.0.0.1:$port, SMTP smtp://127.0.0.1:$SINK_PORT, HERALD_MAIL_RATE=0"
    start_server "$dir" "$db" "$port" "smtp://127.0.0.1:$SINK_PORT"

    log "[$backend] $IDLE_POSTS incident posts with 0 subscribers"
    local pg_args=()
    [[ $backend == postgres ]] && pg_args=(--db-url "$db")
    python3 "$LOAD" idle --port "$port" --key "$KEY" --n "$IDLE_POSTS" "${pg_args[@]}" \
        --max-seconds 60 --out "$dir/idle.json"

    log "[$backend] seeding $N active subscribers through the API ($SEED_WORKERS client threads)"
    python3 "$LOAD" seed --port "$port" --key "$KEY" --count "$N" --workers "$SEED_WORKERS" \
        --max-seconds "$MAX_SECONDS" --out "$dir/seed.json"

    log "[$backend] one incident, $N mails"
    python3 "$LOAD" fanout --port "$port" --key "$KEY" --expect "$N" --herald-pid "$SERVER_PID" \
        --sink-out "$WORK/sink.out" --sink-port "$SINK_PORT" --sink-pid "$SINK_PID" \
        --side-incident "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["side_incident"])' "$dir/idle.json")" \
        "${pg_args[@]}" ${pg_args[0]:+--postgres} --max-seconds "$MAX_SECONDS" --out "$dir/fanout.json"

    log "[$backend] smtp-source -d -s $SESSIONS: $N mails of $MAIL_BYTES bytes into the same sink"
    python3 "$LOAD" source --n "$N" --size "$MAIL_BYTES" --sessions "$SESSIONS" --repeat 3 \
        --sink-out "$WORK/sink.out" --sink-port "$SINK_PORT" --sink-pid "$SINK_PID" \
        --max-seconds "$MAX_SECONDS" --out "$dir/source.json"

    stop_server
    check_log "$dir" "$backend"
    [[ $backend == postgres ]] && drop_pg_db

    eval "$(python3 - "$dir" "$backend" <<'EOF'
import json, sys
d, b = sys.argv[1], sys.argv[2]
idle = json.load(open(f"{d}/idle.json"))
seed = json.load(open(f"{d}/seed.json"))
fan = json.load(open(f"{d}/fanout.json"))
src = json.load(open(f"{d}/source.json"))
m = fan["marks"]
w = fan["writes_during"] or {}
v = {
    "seed_s": f"{seed['seed_seconds']:.1f}",
    "seed_rate": f"{seed['seeded'] / seed['seed_seconds']:.0f}",
    "idle_post_med": f"{idle['stats']['median']:.1f}",
    "idle_post_max": f"{idle['stats']['max']:.1f}",
    "post_ms": f"{fan['post_ms']:.1f}",
    "fanned_out_s": f"{m.get('fanned_out', float('nan')):.2f}",
    "first_s": f"{m.get('first_sent', float('nan')):.2f}",
    "sink_all_s": f"{m.get('sink_all', float('nan')):.2f}",
    "herald_all_s": f"{m.get('herald_all', float('nan')):.2f}",
    "herald_rate": f"{fan.get('mails_per_s', 0):.0f}",
    "herald_steady": f"{fan.get('steady_mails_per_s', 0):.0f}",
    "sent": str(fan["sent"]),
    "sink_received": str(fan["sink_received"]),
    "failed": f"{fan['failed']}/{fan['retries']}",
    "conns": str(fan["peak_smtp_connections"]),
    "herald_cpu": f"{fan['herald_cpu_s']:.1f}",
    "herald_cpu_per_mail": f"{fan['herald_cpu_s'] * 1000 / max(1, fan['sent']):.2f}",
    "pg_cpu": "-" if fan["postgres_cpu_s"] is None else f"{fan['postgres_cpu_s']:.1f}",
    "sink_cpu": f"{fan['sink_cpu_s']:.2f}",
    "writes_med": f"{w.get('median', float('nan')):.1f}",
    "writes_max": f"{w.get('max', float('nan')):.1f}",
    "src_s": f"{src['seconds_until_sink']:.2f}",
    "src_rate": f"{src['mails_per_s']:.0f}",
    "src_sink_cpu": f"{src['sink_cpu_s']:.2f}",
    "counted": "SQL" if fan.get("counted_via_sql") else "/metrics",
    "ratio": f"{fan.get('mails_per_s', 0) / src['mails_per_s']:.3f}",
    "slower": f"{src['mails_per_s'] / max(1e-9, fan.get('mails_per_s', 0)):.0f}x",
}
for k, val in v.items():
    print(f"R[{b}.{k}]='{val}'")
EOF
)"
    return 0
}

for b in $BACKENDS; do
    bench_backend "$b"
done

log "diagnostic: one SMTP transaction at a time, written as lettre writes it (body, then the final dot)"
python3 "$BENCH_DIR/email_smtp_rtt.py" --port "$SINK_PORT" --size "$MAIL_BYTES" --n 30 --out "$WORK/rtt.json"
eval "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); [print(f"RTT_{k}={v:.2f}") for k, v in d.items()]' "$WORK/rtt.json")"
stop_sink

# --- summary -----------------------------------------------------------------------------
log "summary ($REV): $N active subscribers, one incident; one mail = $MAIL_BYTES bytes;" \
    "smtp-sink on loopback; $CPUS cores shared by Herald, the sink, the clients and PostgreSQL"
fmt_row() { printf '%-58s' "$1"; shift; for v in "$@"; do printf '%12s' "$v"; done; printf '\n'; }
# shellcheck disable=SC2086
fmt_row "" $BACKENDS
row() {
    local label=$1 key=$2 vals=()
    for b in $BACKENDS; do vals+=("${R[$b.$key]:-n/a}"); done
    fmt_row "$label" "${vals[@]}"
}
row "seed $N subscribers via API (s)" seed_s
row "seed rate (subscribers/s, $SEED_WORKERS threads)" seed_rate
row "post incident, 0 subscribers: median of $IDLE_POSTS (ms)" idle_post_med
row "post incident, 0 subscribers: max (ms)" idle_post_max
row "post incident, $N subscribers (ms)" post_ms
row "fanned out into $N deliveries after (s)" fanned_out_s
row "first mail accepted after (s)" first_s
row "all $N mails received by smtp-sink after (s)" sink_all_s
row "all $N mails counted sent by Herald after (s)" herald_all_s
row "Herald: mails/s (posting to last mail)" herald_rate
row "Herald: mails/s (first mail to last)" herald_steady
row "Herald: mails sent (counted by)" counted
row "Herald: mails sent" sent
row "smtp-sink: mails received from Herald" sink_received
row "Herald: failed / retries" failed
row "Herald: peak SMTP connections to the sink" conns
row "Herald: CPU during the fan-out (s)" herald_cpu
row "Herald: CPU per mail (ms)" herald_cpu_per_mail
row "PostgreSQL: CPU during the fan-out (s)" pg_cpu
row "smtp-sink: CPU during Herald's fan-out (s)" sink_cpu
row "incident update during the fan-out: median (ms)" writes_med
row "incident update during the fan-out: max (ms)" writes_max
row "smtp-source -d -s $SESSIONS, $N mails, median of 3 (s)" src_s
row "smtp-source: mails/s" src_rate
row "smtp-sink: CPU during smtp-source (s)" src_sink_cpu
row "ratio herald/smtp-source (mails/s)" ratio
row "smtp-source is faster by" slower
echo
echo "One mail, one connection, one at a time (median ms): written as lettre 0.11 writes it (body,"
echo "then \\r\\n.\\r\\n in a second write, Nagle on) $RTT_lettre_nagle; same with TCP_NODELAY $RTT_lettre_nodelay;"
echo "body and final dot in one write $RTT_one_write_nagle. (lettre 0.11 opens its own sockets without TCP_NODELAY; Herald opens smtp:// connections itself with it set.)"
echo
echo "Note: $CPUS CPU cores shared by Herald, smtp-sink, smtp-source, the Python client and"
echo "PostgreSQL; the Python client polls /metrics every 0.1 s during the fan-out (so the times"
echo "have 0.1 s resolution) and posts one incident update (no notification) per second."
echo "Herald sends each mail as its own SMTP transaction over up to 16 pooled connections,"
echo "and records each delivery in the database; smtp-source -d only"
echo "speaks SMTP, over $SESSIONS connections kept open, with a body of the same size."
