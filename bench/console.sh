#!/usr/bin/env bash
# Console benchmark: what the people running an incident feel, and what their writes
# cost the public page — on SQLite and on PostgreSQL.
#
#   1. sign-in: N sequential sign-ins through the real form (CSRF token and cookie,
#      argon2id verification), median and p99; and the latency of one wrong password
#      (the first failure, which the server answers without its growing pause);
#   2. GET /admin (the dashboard) with a session cookie, median and p99;
#   3. POST /admin/incidents/{id}/updates as the incident's form sends it (csrf,
#      incident[body], every component select, the notify box, the status button
#      pressed), median and p99 of the 303 (not followed);
#   4. GET / under wrk (Accept-Encoding: br, as a browser asks) with no writes, then
#      while the console posts one update every 200 ms; req/s and p99 side by side.
#
# Data: the shipped content/site.toml and `herald demo`'s fictional 90-day history;
# the console account is made with `herald user add`, as an operator would.
#
#   bash bench/console.sh                  # from anywhere in the repo
#
# Knobs (environment): BENCH_BACKENDS="sqlite postgres", BENCH_SIGNINS=100,
# BENCH_DASHBOARD=300, BENCH_UPDATES=200, BENCH_WRK_DURATION=10s,
# BENCH_WRK_CONNECTIONS=64, BENCH_WRK_THREADS=2, BENCH_WRITE_INTERVAL=0.2 (seconds
# between console updates during the second wrk run),
# BENCH_PG_ADMIN=postgres://postgres@127.0.0.1:5432.
#
# Everything talks to 127.0.0.1 only. Every loop is bounded in count and time. On
# exit (also on error or Ctrl-C) the server is stopped, the PostgreSQL database
# dropped and the temporary directory removed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$(pwd)
BENCH_DIR="$REPO/bench"

BACKENDS=${BENCH_BACKENDS:-"sqlite postgres"}
SIGNINS=${BENCH_SIGNINS:-100}
DASHBOARD=${BENCH_DASHBOARD:-300}
UPDATES=${BENCH_UPDATES:-200}
WRK_DURATION=${BENCH_WRK_DURATION:-10s}
WRK_CONNECTIONS=${BENCH_WRK_CONNECTIONS:-64}
WRK_THREADS=${BENCH_WRK_THREADS:-2}
WRITE_INTERVAL=${BENCH_WRITE_INTERVAL:-0.2}
PG_ADMIN=${BENCH_PG_ADMIN:-postgres://postgres@127.0.0.1:5432}
EMAIL=bench@example.com
BIN="$REPO/target/release/herald"

log() { printf '\n=== %s\n' "$*"; }
die() { printf 'bench/console.sh: %s\n' "$*" >&2; exit 1; }
# stop_server, drop_pg_db, ensure_wrk
source "$BENCH_DIR/lib.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/herald-console-bench.XXXXXX")
SERVER_PID=""
WRITER_PID=""
PG_DB=""

stop_writer() {
    if [[ -n "$WRITER_PID" ]]; then
        kill "$WRITER_PID" 2>/dev/null || true
        wait "$WRITER_PID" 2>/dev/null || true
        WRITER_PID=""
    fi
}

cleanup() {
    local rc=$?
    stop_writer
    stop_server
    drop_pg_db
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- tools and build ---------------------------------------------------------------------
ensure_wrk
command -v curl >/dev/null || die "curl is required"
command -v python3 >/dev/null || die "python3 is required"
if [[ " $BACKENDS " == *" postgres "* ]]; then
    command -v psql >/dev/null || die "psql is required for the postgres backend"
fi

log "cargo build --release"
cargo build --release
[[ -x "$BIN" ]] || die "$BIN was not built"

CPUS=$(nproc)
REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]]; then REV="$REV+dirty"; fi
echo "herald built from $REV"
log "machine: $CPUS CPU core(s); wrk ($WRK_THREADS threads), the Python client, Herald" \
    "and PostgreSQL all share them"

# The console password: random, kept in a file (never on a command line).
PASSWORD_FILE="$WORK/password"
(umask 077 && od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$PASSWORD_FILE")
PASSWORD=$(cat "$PASSWORD_FILE")

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# herald_env DIR DB_URL PORT: sets HENV to the env(1) arguments for herald (run as
# `env "${HENV[@]}" "$BIN" ... &` so that $! is herald's own PID: env execs it).
herald_env() {
    local dir=$1 db=$2 port=$3
    HENV=(-u HERALD_CONFIG -u HERALD_BASE_URL -u HERALD_LOG_FORMAT -u HERALD_SMTP_URL
        HERALD_BIND="127.0.0.1:$port"
        HERALD_DATA_DIR="$dir/data"
        HERALD_DATABASE_URL="$db"
        HERALD_CONTENT_DIR="$dir/content"
        RUST_LOG=warn)
}

# wait_ready PORT: up to 60 s for /api/v2/status.json to answer 200.
wait_ready() {
    local port=$1
    for _ in $(seq 1 300); do
        kill -0 "$SERVER_PID" 2>/dev/null || return 1
        if curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$port/api/v2/status.json" 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    return 1
}

# probe_page PORT: "BYTES ENCODING" of GET / as a browser asks for it.
probe_page() {
    curl -fsS -o /dev/null -H 'Accept-Encoding: br' --max-time 10 \
        -w '%{size_download} %header{content-encoding}' "http://127.0.0.1:$1/"
}

# run_wrk LABEL PORT OUTFILE: wrk on GET / with Accept-Encoding: br; parsed figures
# (rps, p50, p90, p99, max in ms, non2xx) go to OUTFILE as shell assignments.
run_wrk() {
    local label=$1 port=$2 out=$3
    local url="http://127.0.0.1:$port/"
    echo "wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d$WRK_DURATION --latency -H 'Accept-Encoding: br' $url   ($label)"
    wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"$WRK_DURATION" --timeout 10s --latency \
        -H 'Accept-Encoding: br' "$url" >"$out.raw"
    sed -n '/Latency Distribution/,/^Requests\/sec/p;/Non-2xx/p;/Socket errors/p' "$out.raw" | sed 's/^/    /'
    awk '
        function ms(v) {
            if (v ~ /us$/) { sub(/us$/, "", v); return v / 1000 }
            if (v ~ /ms$/) { sub(/ms$/, "", v); return v + 0 }
            if (v ~ /m$/)  { sub(/m$/, "", v);  return v * 60000 }
            if (v ~ /s$/)  { sub(/s$/, "", v);  return v * 1000 }
            return v
        }
        /^ +50%/ { p50 = ms($2) }
        /^ +90%/ { p90 = ms($2) }
        /^ +99%/ { p99 = ms($2) }
        /^ +Latency / && !lat { max = ms($4); lat = 1 }
        /^Requests\/sec:/ { rps = $2 }
        /Non-2xx or 3xx responses:/ { non2xx = $NF }
        /Socket errors:/ { errs = 1 }
        END {
            printf "rps=%.0f\np50=%.2f\np90=%.2f\np99=%.2f\nmax=%.2f\nnon2xx=%d\nsockerr=%d\n", \
                rps, p50, p90, p99, max, non2xx + 0, errs + 0
        }' "$out.raw" >"$out"
    if grep -q '^non2xx=[1-9]' "$out"; then
        echo "warning: wrk saw non-2xx responses ($label)" >&2
    fi
    if grep -q '^sockerr=1' "$out"; then
        echo "warning: wrk saw socket errors ($label)" >&2
    fi
}

declare -A R   # results: R[backend.metric]=value

# json_get FILE PYEXPR: prints a value from a JSON report (d is the parsed document).
json_get() {
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); v=eval(sys.argv[2]); print(f"{v:.2f}" if isinstance(v, float) else v)' "$1" "$2"
}

load() { python3 "$BENCH_DIR/console_load.py" --port "$1" --email "$EMAIL" --password-file "$PASSWORD_FILE" "${@:2}"; }

bench_backend() {
    local backend=$1
    local dir="$WORK/$backend" db port
    mkdir -p "$dir/content" "$dir/data"
    cp "$REPO/content/site.toml" "$dir/content/site.toml"
    case $backend in
        sqlite)
            db="sqlite:$dir/data/herald.db"
            ;;
        postgres)
            PG_DB="herald_bench_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
            psql "$PG_ADMIN/postgres" -v ON_ERROR_STOP=1 -qAtc "CREATE DATABASE $PG_DB" >/dev/null
            db="$PG_ADMIN/$PG_DB"
            ;;
        *) die "unknown backend $backend" ;;
    esac
    port=$(free_port)
    herald_env "$dir" "$db" "$port"

    log "[$backend] console account and demo history ($db)"
    # The account first: `herald demo` then makes no demo account of its own.
    printf '%s\n' "$PASSWORD" | env "${HENV[@]}" "$BIN" user add "$EMAIL" --role admin
    env "${HENV[@]}" "$BIN" demo >"$dir/demo.log" 2>&1 || { cat "$dir/demo.log" >&2; die "[$backend] herald demo failed"; }
    env "${HENV[@]}" "$BIN" user list

    log "[$backend] starting herald serve on 127.0.0.1:$port"
    env "${HENV[@]}" "$BIN" serve >"$dir/server.log" 2>&1 &
    SERVER_PID=$!
    if ! wait_ready "$port"; then
        cat "$dir/server.log" >&2
        die "[$backend] herald did not come up"
    fi
    curl -fsS --max-time 10 "http://127.0.0.1:$port/api/v2/summary.json" | python3 -c '
import json, sys
d = json.load(sys.stdin)
c, i, m = (len(d[k]) for k in ("components", "incidents", "scheduled_maintenances"))
print(f"page: {c} components (groups included), {i} unresolved incidents, {m} maintenances open or upcoming")'
    R[$backend.incidents]=$(curl -fsS --max-time 10 "http://127.0.0.1:$port/api/v2/incidents.json" \
        | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["incidents"]))')

    log "[$backend] 1-3: wrong password, $SIGNINS sign-ins, $DASHBOARD x GET /admin, $UPDATES console updates"
    load "$port" measure --signins "$SIGNINS" --dashboard "$DASHBOARD" --updates "$UPDATES" \
        --max-seconds 900 --out "$dir/measure.json"
    local m="$dir/measure.json"
    R[$backend.wrong]=$(json_get "$m" 'd["wrong_password"]["ms"]')
    R[$backend.signin_median]=$(json_get "$m" 'd["sign_in"]["median"]')
    R[$backend.signin_p99]=$(json_get "$m" 'd["sign_in"]["p99"]')
    R[$backend.signin_max]=$(json_get "$m" 'd["sign_in"]["max"]')
    R[$backend.dash_median]=$(json_get "$m" 'd["dashboard"]["median"]')
    R[$backend.dash_p99]=$(json_get "$m" 'd["dashboard"]["p99"]')
    R[$backend.dash_bytes]=$(json_get "$m" 'd["dashboard"]["bytes"]')
    R[$backend.update_median]=$(json_get "$m" 'd["update"]["median"]')
    R[$backend.update_p99]=$(json_get "$m" 'd["update"]["p99"]')
    R[$backend.update_max]=$(json_get "$m" 'd["update"]["max"]')

    log "[$backend] 4: GET / under wrk, without and with console writes"
    # One open incident on the page in both runs: the one the writer will update.
    local live
    live=$(load "$port" open)
    [[ -n "$live" ]] || die "[$backend] could not open the live incident"
    local probe
    probe=$(probe_page "$port")
    echo "GET / before: ${probe% *} bytes, Content-Encoding: ${probe#* }"
    [[ "${probe#* }" == br ]] || echo "warning: GET / was not brotli-encoded" >&2
    R[$backend.page_bytes]=${probe% *}

    run_wrk "$backend, no writes" "$port" "$dir/wrk_quiet.txt"
    for k in rps p50 p99 non2xx; do R[$backend.quiet_$k]=$(sed -n "s/^$k=//p" "$dir/wrk_quiet.txt"); done

    rm -f "$dir/stop" "$dir/ready"
    load "$port" writer --incident "$live" --interval "$WRITE_INTERVAL" --max-updates 1000 \
        --max-seconds 300 --stop-file "$dir/stop" --ready-file "$dir/ready" --out "$dir/writer.json" &
    WRITER_PID=$!
    for _ in $(seq 1 150); do
        [[ -e "$dir/ready" ]] && break
        kill -0 "$WRITER_PID" 2>/dev/null || die "[$backend] the writer stopped before it was ready"
        sleep 0.2
    done
    [[ -e "$dir/ready" ]] || die "[$backend] the writer did not get ready"
    run_wrk "$backend, console update every ${WRITE_INTERVAL}s" "$port" "$dir/wrk_writes.txt"
    touch "$dir/stop"
    for _ in $(seq 1 150); do
        kill -0 "$WRITER_PID" 2>/dev/null || break
        sleep 0.2
    done
    wait "$WRITER_PID" || die "[$backend] the writer failed"
    WRITER_PID=""
    for k in rps p50 p99 non2xx; do R[$backend.writes_$k]=$(sed -n "s/^$k=//p" "$dir/wrk_writes.txt"); done
    local w="$dir/writer.json"
    R[$backend.writer_n]=$(json_get "$w" 'd["n"]')
    R[$backend.writer_median]=$(json_get "$w" 'd["median"]')
    R[$backend.writer_p99]=$(json_get "$w" 'd["p99"]')
    probe=$(probe_page "$port")
    R[$backend.page_bytes_after]=${probe% *}
    echo "console updates during wrk: ${R[$backend.writer_n]} (median ${R[$backend.writer_median]} ms," \
        "p99 ${R[$backend.writer_p99]} ms); GET / after: ${probe% *} bytes"

    stop_server
    if grep -qiE '(^|[^a-z])(error|panicked)' "$dir/server.log"; then
        echo "[$backend] server log has errors:" >&2
        grep -iE '(^|[^a-z])(error|panicked)' "$dir/server.log" | head -20 >&2
    fi
    [[ "$backend" == postgres ]] && drop_pg_db
    return 0
}

for b in $BACKENDS; do
    bench_backend "$b"
done

# --- summary -----------------------------------------------------------------------------
log "summary ($REV): demo history; sequential requests from one Python client (a new" \
    "loopback connection each); wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d$WRK_DURATION on GET / (br);" \
    "$CPUS cores shared by client and server"
fmt_row() { printf '%-50s' "$1"; shift; for v in "$@"; do printf '%12s' "$v"; done; printf '\n'; }
# shellcheck disable=SC2086
fmt_row "" $BACKENDS
row() {
    local label=$1 key=$2 vals=()
    for b in $BACKENDS; do vals+=("${R[$b.$key]:-n/a}"); done
    fmt_row "$label" "${vals[@]}"
}
row "incidents in incidents.json (demo history)" incidents
row "sign-in, POST -> 303, N=$SIGNINS: median (ms)" signin_median
row "sign-in, POST -> 303, N=$SIGNINS: p99 (ms)" signin_p99
row "sign-in, POST -> 303, N=$SIGNINS: max (ms)" signin_max
row "wrong password, 1st failure -> 401 (ms)" wrong
row "GET /admin dashboard, N=$DASHBOARD: median (ms)" dash_median
row "GET /admin dashboard, N=$DASHBOARD: p99 (ms)" dash_p99
row "GET /admin dashboard: body (bytes)" dash_bytes
row "POST update via form -> 303, N=$UPDATES: median (ms)" update_median
row "POST update via form -> 303, N=$UPDATES: p99 (ms)" update_p99
row "POST update via form -> 303, N=$UPDATES: max (ms)" update_max
row "GET / (br) body before writes (bytes)" page_bytes
row "GET / (br) body after the write run (bytes)" page_bytes_after
echo
echo "GET / under wrk, without and with one console update every ${WRITE_INTERVAL}s:"
printf '%-10s %14s %10s %10s   %14s %10s %10s   %9s %16s\n' backend "no writes req/s" p50 p99 \
    "writes req/s" p50 p99 updates "update med/p99"
for b in $BACKENDS; do
    printf '%-10s %14s %10s %10s   %14s %10s %10s   %9s %16s\n' "$b" \
        "${R[$b.quiet_rps]:-n/a}" "${R[$b.quiet_p50]:-n/a}ms" "${R[$b.quiet_p99]:-n/a}ms" \
        "${R[$b.writes_rps]:-n/a}" "${R[$b.writes_p50]:-n/a}ms" "${R[$b.writes_p99]:-n/a}ms" \
        "${R[$b.writer_n]:-n/a}" "${R[$b.writer_median]:-n/a}/${R[$b.writer_p99]:-n/a}ms"
done
for b in $BACKENDS; do
    if [[ "${R[$b.quiet_non2xx]:-0}" != 0 || "${R[$b.writes_non2xx]:-0}" != 0 ]]; then
        echo "warning: $b: non-2xx answers under wrk (${R[$b.quiet_non2xx]} / ${R[$b.writes_non2xx]})"
    fi
done
echo
echo "Notes: the sign-in figure is the POST alone (the form GET before it is not timed);"
echo "argon2id (19 MiB, 2 passes) runs on the blocking pool. The wrong-password figure is the"
echo "first failure from this address, answered without the pause later failures get. Every"
echo "console update invalidates the page cache, so during the write run some GET / requests"
echo "wait for a fresh render; the page also grows, as each update of today's incident is"
echo "listed under today. wrk, Python, Herald and PostgreSQL share $CPUS cores."
