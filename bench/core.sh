#!/usr/bin/env bash
# Core Herald benchmark: with 10,000 incidents stored, latency of creating an incident
# and of posting an update (management API), and requests/s of GET
# /api/v2/summary.json under wrk at 64 connections — on SQLite and on PostgreSQL.
#
#   bash bench/core.sh                      # from the repo root
#
# Knobs (environment): BENCH_BACKENDS="sqlite postgres", BENCH_INCIDENTS=10000,
# BENCH_LIVE=5 (open incidents among them), BENCH_N=500 (timed creates and updates),
# BENCH_WRK_DURATION=15s, BENCH_WRK_CONNECTIONS=64, BENCH_WRK_THREADS=2,
# BENCH_WRK_OPEN=1 (also run wrk while the N benchmark incidents are still open),
# BENCH_PG_ADMIN=postgres://postgres@127.0.0.1:5432.
#
# Everything talks to 127.0.0.1 only. Every request loop is bounded in count and time.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$(pwd)
BENCH_DIR="$REPO/bench"

BACKENDS=${BENCH_BACKENDS:-"sqlite postgres"}
INCIDENTS=${BENCH_INCIDENTS:-10000}
LIVE=${BENCH_LIVE:-5}
N=${BENCH_N:-500}
WRK_DURATION=${BENCH_WRK_DURATION:-15s}
WRK_CONNECTIONS=${BENCH_WRK_CONNECTIONS:-64}
WRK_THREADS=${BENCH_WRK_THREADS:-2}
WRK_OPEN=${BENCH_WRK_OPEN:-1}
PG_ADMIN=${BENCH_PG_ADMIN:-postgres://postgres@127.0.0.1:5432}
SEED_WORKERS=${BENCH_SEED_WORKERS:-4}
MISS_N=${BENCH_MISS_N:-100}
BIN="$REPO/target/release/herald"

log() { printf '\n=== %s\n' "$*"; }
die() { printf 'bench/core.sh: %s\n' "$*" >&2; exit 1; }
# stop_server, drop_pg_db, ensure_wrk
source "$BENCH_DIR/lib.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/herald-bench.XXXXXX")
SERVER_PID=""
PG_DB=""

cleanup() {
    local rc=$?
    stop_server
    drop_pg_db
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 1. wrk ------------------------------------------------------------------------------
ensure_wrk
command -v curl >/dev/null || die "curl is required"
command -v python3 >/dev/null || die "python3 is required"

# --- 2. build ----------------------------------------------------------------------------
log "cargo build --release"
cargo build --release
[[ -x "$BIN" ]] || die "$BIN was not built"

CPUS=$(nproc)
REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]]; then REV="$REV+dirty"; fi
echo "herald built from $REV"
log "machine: $CPUS CPU core(s); wrk ($WRK_THREADS threads), the Python client, Herald" \
    "and PostgreSQL all share them, so the figures are a lower bound for a dedicated server"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# herald_env BACKEND_DIR DB_URL PORT: sets HENV to the env(1) arguments for herald.
# (Run as `env "${HENV[@]}" "$BIN" ... &` straight from this shell, so that $! is the
# server's own PID: env execs herald. A function run with & would leave $! pointing at
# a subshell and orphan the server on kill.)
herald_env() {
    local dir=$1 db=$2 port=$3
    HENV=(-u HERALD_CONFIG -u HERALD_BASE_URL -u HERALD_LOG_FORMAT
        HERALD_BIND="127.0.0.1:$port"
        HERALD_DATA_DIR="$dir/data"
        HERALD_DATABASE_URL="$db"
        HERALD_CONTENT_DIR="$dir/content"
        RUST_LOG=warn)
}

# wait_ready PORT: up to 60 s for summary.json to answer 200.
wait_ready() {
    local port=$1
    for _ in $(seq 1 300); do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            return 1
        fi
        if curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$port/api/v2/summary.json" 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    return 1
}

# run_wrk LABEL PORT OUTFILE: prints the run and stores the parsed figures in OUTFILE.
run_wrk() {
    local label=$1 port=$2 out=$3
    local url="http://127.0.0.1:$port/api/v2/summary.json"
    local probe
    probe=$(curl -fsS -o /dev/null -w '%{size_download} %{time_total}' --max-time 10 "$url")
    echo "summary.json ($label): $(awk '{printf "%d bytes, single request %.1f ms", $1, $2*1000}' <<<"$probe")"
    echo "wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d$WRK_DURATION --latency $url"
    wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"$WRK_DURATION" --timeout 10s --latency "$url" \
        | tee "$out.raw"
    # Latency distribution lines look like "     50%    8.49ms"; normalise to ms.
    awk -v bytes="${probe%% *}" '
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
        /Socket errors:/ { errs = $0 }
        END {
            printf "rps=%s\np50=%.2f\np90=%.2f\np99=%.2f\nmax=%.2f\nnon2xx=%d\nbytes=%d\n", \
                rps, p50, p90, p99, max, non2xx + 0, bytes
            if (errs != "") printf "errors=\"%s\"\n", errs
        }' "$out.raw" >"$out"
    if grep -q '^non2xx=[1-9]' "$out"; then
        echo "warning: wrk saw non-2xx responses ($label)" >&2
    fi
}

declare -A R   # results: R[backend.metric]=value

# summary_miss BACKEND PORT KEY PREFIX: render (cache-miss) and cache-hit latency.
summary_miss() {
    local backend=$1 port=$2 key=$3 prefix=$4 out="$WORK/$1/miss_$4.json"
    echo "summary.json render cost: $MISS_N x (untimed component PATCH, timed GET = cache miss, timed GET = hit)"
    python3 "$BENCH_DIR/api_latency.py" --port "$port" --key "$key" summary-miss \
        --n "$MISS_N" --max-seconds 120 --out "$out"
    eval "$(python3 - "$out" "$backend" "$prefix" <<'EOF2'
import json, sys
d = json.load(open(sys.argv[1]))
b, p = sys.argv[2], sys.argv[3]
for k in ("median", "p99"):
    print(f"R[{b}.{p}_miss_{k}]={d['miss'][k]:.2f}")
print(f"R[{b}.{p}_hit_median]={d['hit']['median']:.2f}")
EOF2
)"
}

bench_backend() {
    local backend=$1
    local dir="$WORK/$backend" db port key
    mkdir -p "$dir/content" "$dir/data"
    cp "$REPO/content/site.toml" "$dir/content/site.toml"
    case $backend in
        sqlite)
            db="sqlite:$dir/herald.db"
            ;;
        postgres)
            PG_DB="herald_bench_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
            psql "$PG_ADMIN/postgres" -v ON_ERROR_STOP=1 -qAtc "CREATE DATABASE $PG_DB" >/dev/null
            db="$PG_ADMIN/$PG_DB"
            ;;
        *) die "unknown backend $backend" ;;
    esac
    port=$(free_port)

    log "[$backend] starting herald serve on 127.0.0.1:$port ($db)"
    herald_env "$dir" "$db" "$port"
    env "${HENV[@]}" "$BIN" serve >"$dir/server.log" 2>&1 &
    SERVER_PID=$!
    if ! wait_ready "$port"; then
        cat "$dir/server.log" >&2
        die "[$backend] herald did not come up"
    fi
    key=$(env "${HENV[@]}" "$BIN" api-key create bench | tail -n1)
    [[ -n "$key" ]] || die "[$backend] no API key"

    log "[$backend] seeding $INCIDENTS incidents ($((INCIDENTS - LIVE)) backfilled and resolved over 2 years, $LIVE open)"
    python3 "$BENCH_DIR/api_latency.py" --port "$port" --key "$key" seed \
        --count "$INCIDENTS" --live "$LIVE" --workers "$SEED_WORKERS" --max-seconds 600 \
        --out "$dir/seed.json"
    R[$backend.seed_s]=$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["seed_seconds"]))' "$dir/seed.json")

    log "[$backend] $N creates, then $N updates (sequential, one keep-alive connection)"
    python3 "$BENCH_DIR/api_latency.py" --port "$port" --key "$key" measure \
        --n "$N" --max-seconds 600 --out "$dir/measure.json"
    eval "$(python3 - "$dir/measure.json" "$backend" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
for op in ("create", "update"):
    for k in ("median", "p90", "p99", "max"):
        print(f"R[{sys.argv[2]}.{op}_{k}]={d[op][k]:.2f}")
EOF
)"

    if [[ "$WRK_OPEN" == 1 ]]; then
        log "[$backend] wrk while the $N benchmark incidents (+ warm-up) are still open ($((N + LIVE + 10)) open)"
        summary_miss "$backend" "$port" "$key" open
        run_wrk "$backend, $((N + LIVE + 10)) open" "$port" "$dir/wrk_open.txt"
        R[$backend.open_rps]=$(sed -n 's/^rps=//p' "$dir/wrk_open.txt")
        R[$backend.open_p50]=$(sed -n 's/^p50=//p' "$dir/wrk_open.txt")
        R[$backend.open_p99]=$(sed -n 's/^p99=//p' "$dir/wrk_open.txt")
        R[$backend.open_bytes]=$(sed -n 's/^bytes=//p' "$dir/wrk_open.txt")
    fi

    log "[$backend] resolving the benchmark incidents (untimed), back to $LIVE open"
    python3 "$BENCH_DIR/api_latency.py" --port "$port" --key "$key" resolve \
        --ids-from "$dir/measure.json" --max-seconds 600

    log "[$backend] wrk, $((INCIDENTS + N + 10)) incidents stored, $LIVE open"
    summary_miss "$backend" "$port" "$key" live
    run_wrk "$backend, $LIVE open" "$port" "$dir/wrk.txt"
    for k in rps p50 p90 p99 max non2xx bytes; do
        R[$backend.wrk_$k]=$(sed -n "s/^$k=//p" "$dir/wrk.txt")
    done

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
log "summary ($REV): $INCIDENTS incidents stored; $N sequential creates / updates on one keep-alive" \
    "connection; wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d$WRK_DURATION; $CPUS cores shared by client and server"
fmt_row() { printf '%-44s' "$1"; shift; for v in "$@"; do printf '%14s' "$v"; done; printf '\n'; }
# shellcheck disable=SC2086
fmt_row "" $BACKENDS
row() {
    local label=$1 key=$2 unit=${3:-} vals=()
    for b in $BACKENDS; do vals+=("${R[$b.$key]:-n/a}$unit"); done
    fmt_row "$label" "${vals[@]}"
}
row "seed $INCIDENTS incidents via API (s)" seed_s
row "create incident  median (ms)" create_median
row "create incident  p90 (ms)" create_p90
row "create incident  p99 (ms)" create_p99
row "create incident  max (ms)" create_max
row "post update      median (ms)" update_median
row "post update      p90 (ms)" update_p90
row "post update      p99 (ms)" update_p99
row "post update      max (ms)" update_max
row "summary.json $LIVE open: requests/s" wrk_rps
row "summary.json $LIVE open: latency p50 (ms)" wrk_p50
row "summary.json $LIVE open: latency p90 (ms)" wrk_p90
row "summary.json $LIVE open: latency p99 (ms)" wrk_p99
row "summary.json $LIVE open: latency max (ms)" wrk_max
row "summary.json $LIVE open: body (bytes)" wrk_bytes
row "summary.json $LIVE open: non-2xx" wrk_non2xx
row "summary.json $LIVE open: render/miss p50 (ms)" live_miss_median
row "summary.json $LIVE open: render/miss p99 (ms)" live_miss_p99
row "summary.json $LIVE open: cache hit p50 (ms)" live_hit_median
if [[ "$WRK_OPEN" == 1 ]]; then
    row "summary.json $((N + LIVE + 10)) open: requests/s" open_rps
    row "summary.json $((N + LIVE + 10)) open: latency p50 (ms)" open_p50
    row "summary.json $((N + LIVE + 10)) open: latency p99 (ms)" open_p99
    row "summary.json $((N + LIVE + 10)) open: body (bytes)" open_bytes
    row "summary.json $((N + LIVE + 10)) open: render/miss p50 (ms)" open_miss_median
    row "summary.json $((N + LIVE + 10)) open: render/miss p99 (ms)" open_miss_p99
    row "summary.json $((N + LIVE + 10)) open: cache hit p50 (ms)" open_hit_median
fi
echo
echo "Note: $CPUS CPU cores; wrk and Herald (and PostgreSQL) compete for them during the"
echo "summary.json runs, so requests/s understates a dedicated server."
echo "summary.json is served from Herald's render cache (invalidated by every write, 30 s max"
echo "age): the wrk figures are cache hits in identity encoding (wrk sends no Accept-Encoding);"
echo "'render/miss' rows time a GET right after a write, i.e. a full render + gzip + brotli."
