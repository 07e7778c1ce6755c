#!/usr/bin/env bash
# Public status page under an outage's traffic: wrk at 64 connections against Herald's
# `/` and, in the same run, against nginx serving the very same bytes as a static
# file. Data: 50 components in 5 groups (all showcased, so 50 uptime bars), 2,000 past
# incidents spread over two years, one open incident.
#
#   bash bench/site.sh
#
# Knobs: BENCH_WRK_DURATION=15s, BENCH_WRK_CONNECTIONS=64, BENCH_WRK_THREADS=2,
# BENCH_INCIDENTS=2000, BENCH_ENCODINGS="br identity" (what wrk asks for: a browser
# sends br, so that is the realistic case; identity shows the raw cost).
# Loopback only; every loop is bounded.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$(pwd)
DURATION=${BENCH_WRK_DURATION:-15s}
CONNECTIONS=${BENCH_WRK_CONNECTIONS:-64}
THREADS=${BENCH_WRK_THREADS:-2}
INCIDENTS=${BENCH_INCIDENTS:-2000}
ENCODINGS=${BENCH_ENCODINGS:-"br identity"}
BIN="$REPO/target/release/herald"

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
command -v nginx >/dev/null || { apt-get update -qq && apt-get install -y -qq nginx; }
cargo build --release --quiet

WORK=$(mktemp -d "${TMPDIR:-/tmp}/herald-site-bench.XXXXXX")
HERALD_PID="" NGINX_PID=""
cleanup() {
    [[ -n "$HERALD_PID" ]] && kill "$HERALD_PID" 2>/dev/null || true
    [[ -n "$NGINX_PID" ]] && kill "$NGINX_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# 50 components in 5 groups of 10.
mkdir -p "$WORK/content"
{
    printf '[page]\nname = "Bench Cloud"\ntime_zone = "Etc/UTC"\n'
    for g in 1 2 3 4 5; do
        printf '\n[[components]]\nkey = "group-%d"\nname = "Region %d"\n' "$g" "$g"
        for c in $(seq 1 10); do
            printf '  [[components.components]]\n  key = "c-%d-%d"\n  name = "Service %d.%d"\n  description = "Component %d of region %d"\n  start_date = "2024-01-01"\n' \
                "$g" "$c" "$g" "$c" "$c" "$g"
        done
    done
} > "$WORK/content/site.toml"

PORT=$(free_port)
HERALD_DATA_DIR="$WORK/data" HERALD_CONTENT_DIR="$WORK/content" HERALD_BIND="127.0.0.1:$PORT" \
    RUST_LOG=warn "$BIN" serve > "$WORK/herald.log" 2>&1 &
HERALD_PID=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/api/v2/status.json" >/dev/null && break; sleep 0.1; done
KEY=$(HERALD_DATA_DIR="$WORK/data" "$BIN" api-key create bench | tail -n1)

echo "== seeding $INCIDENTS past incidents"
python3 - "http://127.0.0.1:$PORT" "$KEY" "$INCIDENTS" <<'PY'
import datetime, http.client, json, random, sys, urllib.parse
base, key, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
url = urllib.parse.urlparse(base)
conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
def call(method, path, body=None):
    conn.request(method, path, body=json.dumps(body) if body else None,
                 headers={"Authorization": f"OAuth {key}", "Content-Type": "application/json"})
    res = conn.getresponse(); data = res.read()
    if res.status >= 300: raise SystemExit(f"{method} {path}: {res.status} {data[:200]}")
    return json.loads(data) if data else None
conn.request("GET", "/api/v2/summary.json"); summary = json.loads(conn.getresponse().read())
page = summary["page"]["id"]
components = [c["id"] for c in summary["components"] if not c["group"]]
random.seed(7)
now = datetime.datetime.now(datetime.timezone.utc)
for n in range(count):
    when = now - datetime.timedelta(minutes=random.randint(60, 2 * 365 * 24 * 60))
    call("POST", f"/v1/pages/{page}/incidents", {"incident": {
        "name": f"Past incident {n}", "body": "We investigated and resolved **this**.",
        "backfilled": True, "backfill_date": when.isoformat(), "impact_override": random.choice(["minor", "major"]),
        "component_ids": random.sample(components, 2)}})
live = call("POST", f"/v1/pages/{page}/incidents", {"incident": {
    "name": "Elevated error rates", "body": "We are investigating.",
    "components": {components[0]: "major_outage", components[1]: "degraded_performance"}}})
call("PATCH", f"/v1/pages/{page}/incidents/{live['id']}", {"incident": {"status": "identified", "body": "Found it."}})
PY

NGINX_PORT=$(free_port)
mkdir -p "$WORK/www"
chmod 755 "$WORK" "$WORK/www"   # nginx's workers do not run as root
cat > "$WORK/nginx.conf" <<NGINX
worker_processes 2;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $WORK/www;
        location / { default_type text/html; }
    }
}
NGINX
nginx -c "$WORK/nginx.conf" -g 'daemon off;' &
NGINX_PID=$!
sleep 0.5

run_wrk() { # name url accept-encoding
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "Accept-Encoding: $3" "$2" > "$WORK/$1.wrk"
    local rps p50 p99 errors
    rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/$1.wrk")
    p50=$(awk '$1=="50%" {print $2}' "$WORK/$1.wrk")
    p99=$(awk '$1=="99%" {print $2}' "$WORK/$1.wrk")
    errors=$(awk '/Non-2xx/ {print $5}' "$WORK/$1.wrk")
    printf '%-8s %12s req/s   p50 %8s   p99 %8s   non-2xx %s\n' "$1" "$rps" "$p50" "$p99" "${errors:-0}"
    echo "$rps" > "$WORK/$1.rps"
}

for ENCODING in $ENCODINGS; do
    # nginx serves exactly the bytes Herald serves for `/` in that encoding.
    curl -s -H "Accept-Encoding: $ENCODING" "http://127.0.0.1:$PORT/" -o "$WORK/www/index.html"
    chmod 644 "$WORK/www/index.html"
    BYTES=$(stat -c %s "$WORK/www/index.html")
    curl -sf -o /dev/null "http://127.0.0.1:$NGINX_PORT/index.html" || { echo "nginx cannot serve the file" >&2; exit 1; }
    echo "== GET / ($BYTES bytes, Accept-Encoding: $ENCODING), wrk -t$THREADS -c$CONNECTIONS -d$DURATION"
    echo "   (wrk, nginx and Herald share this machine's $(nproc) cores)"
    run_wrk nginx "http://127.0.0.1:$NGINX_PORT/index.html" "$ENCODING"
    run_wrk herald "http://127.0.0.1:$PORT/" "$ENCODING"
    python3 - "$(cat "$WORK/herald.rps")" "$(cat "$WORK/nginx.rps")" <<'PY'
import sys
herald, nginx = map(float, sys.argv[1:])
print(f"ratio herald/nginx: {herald / nginx:.2f}")
PY
done
RSS=$(ps -o rss= -p "$HERALD_PID" | tr -d ' ')
echo "herald resident memory after the run: $((RSS / 1024)) MiB"

# A cache miss: the cost of rendering `/` once after a write.
echo "== render after a write (cache miss), 20 samples"
python3 - "http://127.0.0.1:$PORT" "$KEY" <<'PY'
import http.client, json, statistics, sys, time, urllib.parse
base, key = sys.argv[1], sys.argv[2]
url = urllib.parse.urlparse(base)
conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
conn.request("GET", "/api/v2/summary.json"); summary = json.loads(conn.getresponse().read())
page, component = summary["page"]["id"], next(c["id"] for c in summary["components"] if not c["group"])
samples = []
for n in range(20):
    status = "degraded_performance" if n % 2 == 0 else "operational"
    conn.request("PATCH", f"/v1/pages/{page}/components/{component}", body=json.dumps({"component": {"status": status}}),
                 headers={"Authorization": f"OAuth {key}", "Content-Type": "application/json"})
    conn.getresponse().read()
    start = time.perf_counter()
    conn.request("GET", "/"); conn.getresponse().read()
    samples.append((time.perf_counter() - start) * 1000)
samples.sort()
print(f"render of / after a write: median {statistics.median(samples):.1f} ms, max {samples[-1]:.1f} ms")
PY
