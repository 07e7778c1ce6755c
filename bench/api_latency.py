#!/usr/bin/env python3
"""Management-API load and latency helper for bench/core.sh (Python 3 stdlib only).

Talks only to 127.0.0.1 on the given port, over keep-alive http.client connections.
Every loop is bounded by a request count and a wall-clock deadline.

Subcommands:
  seed     create the history: COUNT incidents, all but LIVE of them backfilled
           (resolved, dated over the past two years), LIVE of them open.
  measure  N timed creates (one component change each), then N timed updates
           (PATCH status + body on those new incidents); prints percentiles and writes
           the figures as JSON.
  summary-miss  N timed renders of summary.json (an untimed write before each, which
           invalidates the render cache) and N timed cache hits.
  resolve  untimed: resolve the incidents `measure` created, so the open list is back
           to LIVE entries.
"""

import argparse
import datetime as dt
import http.client
import json
import random
import statistics
import sys
import threading
import time

HOST = "127.0.0.1"  # never anything else


class Client:
    """One keep-alive connection; reconnects once if the server closed it."""

    def __init__(self, port, key=None, timeout=30.0):
        self.port = port
        self.key = key
        self.timeout = timeout
        self.conn = None

    def _connect(self):
        self.conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)

    def request(self, method, path, body=None):
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.key:
            headers["Authorization"] = "OAuth " + self.key
        for attempt in (0, 1):
            if self.conn is None:
                self._connect()
            try:
                self.conn.request(method, path, body=data, headers=headers)
                res = self.conn.getresponse()
                raw = res.read()
                return res.status, raw
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = None
                if attempt == 1:
                    raise
        raise RuntimeError("unreachable")

    def json(self, method, path, body=None, expect=200):
        status, raw = self.request(method, path, body)
        if status != expect:
            raise SystemExit(
                f"{method} {path}: expected {expect}, got {status}: {raw[:500]!r}"
            )
        return json.loads(raw) if raw else None

    def close(self):
        if self.conn is not None:
            self.conn.close()


def site(port):
    """Page id and the ids of leaf components, from the public summary."""
    summary = Client(port).json("GET", "/api/v2/summary.json")
    comps = [c for c in summary["components"] if not c.get("group")]
    if not comps:
        raise SystemExit("summary.json lists no components")
    return summary["page"]["id"], [c["id"] for c in comps]


def percentile(sorted_ms, p):
    """Nearest-rank percentile of an ascending list."""
    if not sorted_ms:
        return float("nan")
    k = max(0, min(len(sorted_ms) - 1, int(round(p / 100.0 * len(sorted_ms) + 0.5)) - 1))
    return sorted_ms[k]


def stats(ms):
    s = sorted(ms)
    return {
        "n": len(s),
        "median": statistics.median(s),
        "p90": percentile(s, 90),
        "p99": percentile(s, 99),
        "max": s[-1],
        "mean": statistics.fmean(s),
    }


def fmt(name, st):
    return (
        f"{name:<22} n={st['n']:<5} median={st['median']:8.2f} ms  p90={st['p90']:8.2f} ms  "
        f"p99={st['p99']:8.2f} ms  max={st['max']:8.2f} ms"
    )


# --- seed ---------------------------------------------------------------------------------


def cmd_seed(a):
    page_id, comps = site(a.port)
    base = f"/v1/pages/{page_id}/incidents"
    now = dt.datetime.now(dt.timezone.utc)
    span = 2 * 365 * 24 * 3600
    rng = random.Random(42)
    backfilled = a.count - a.live
    # Dates spread evenly over two years (a little jitter), oldest first.
    jobs = []
    for i in range(backfilled):
        age = span * (1 - (i + 0.5) / backfilled) + rng.uniform(-600, 600)
        at = now - dt.timedelta(seconds=max(3600, age))
        affected = rng.sample(comps, k=min(len(comps), rng.choice((1, 1, 2, 3))))
        jobs.append({"incident": {
            "name": f"Historic incident #{i + 1}: elevated errors",
            "body": "We saw elevated error rates; the cause was identified and fixed. " * 3,
            "backfilled": True,
            "backfill_date": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "component_ids": affected,
            "impact_override": rng.choice(("minor", "major", "critical")),
        }})
    for i in range(a.live):
        jobs.append({"incident": {
            "name": f"Live incident #{i + 1}",
            "body": "We are investigating reports of degraded performance.",
            "components": {comps[i % len(comps)]: "degraded_performance"},
        }})

    deadline = time.monotonic() + a.max_seconds
    lock = threading.Lock()
    state = {"next": 0, "done": 0, "error": None}

    def worker():
        c = Client(a.port, a.key)
        try:
            while True:
                with lock:
                    if state["error"] or state["next"] >= len(jobs):
                        return
                    if time.monotonic() > deadline:
                        state["error"] = f"seeding exceeded {a.max_seconds}s"
                        return
                    i = state["next"]
                    state["next"] += 1
                # Live incidents go last, one writer, so they are the newest.
                status, raw = c.request("POST", base, jobs[i])
                with lock:
                    if status != 201:
                        state["error"] = f"POST #{i}: {status} {raw[:300]!r}"
                        return
                    state["done"] += 1
        finally:
            c.close()

    t0 = time.monotonic()
    # Backfilled ones in parallel, then the live ones on one connection.
    threads = [threading.Thread(target=worker) for _ in range(a.workers)]
    live_jobs = jobs[backfilled:]
    jobs[:] = jobs[:backfilled]
    for t in threads:
        t.start()
    last = t0
    while any(t.is_alive() for t in threads):
        time.sleep(0.5)
        if time.monotonic() - last > 15:
            last = time.monotonic()
            print(f"  seeded {state['done']}/{a.count} ({last - t0:.0f}s)", flush=True)
    if state["error"]:
        raise SystemExit("seed failed: " + state["error"])
    c = Client(a.port, a.key)
    for job in live_jobs:
        c.json("POST", base, job, expect=201)
        state["done"] += 1
    c.close()
    elapsed = time.monotonic() - t0
    print(f"seeded {state['done']} incidents ({backfilled} backfilled/resolved, {a.live} open) "
          f"in {elapsed:.1f}s ({state['done'] / elapsed:.0f}/s, {a.workers} client threads)")
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"seed_seconds": elapsed, "seeded": state["done"]}, f)


# --- measure ------------------------------------------------------------------------------


def cmd_measure(a):
    page_id, comps = site(a.port)
    base = f"/v1/pages/{page_id}/incidents"
    c = Client(a.port, a.key)
    deadline = time.monotonic() + a.max_seconds
    statuses = ("degraded_performance", "partial_outage", "major_outage")

    # Warm-up (not timed): a few creates + updates, so connection setup and first-use
    # costs do not land in the sample. They are resolved with the rest.
    ids = []
    for i in range(a.warmup):
        inc = c.json("POST", base, {"incident": {
            "name": f"Warm-up {i}", "body": "warm-up",
            "components": {comps[i % len(comps)]: "major_outage"}}}, expect=201)
        ids.append(inc["id"])
        c.json("PATCH", f"{base}/{inc['id']}",
               {"incident": {"status": "identified", "body": "warm-up update"}})

    create_ms = []
    created = []
    for i in range(a.n):
        if time.monotonic() > deadline:
            raise SystemExit(f"measure exceeded {a.max_seconds}s during creates")
        body = {"incident": {
            "name": f"Bench incident {i}: API errors",
            "body": "We are investigating elevated error rates on the public API.",
            "components": {comps[i % len(comps)]: statuses[i % len(statuses)]},
        }}
        t = time.perf_counter()
        status, raw = c.request("POST", base, body)
        create_ms.append((time.perf_counter() - t) * 1000)
        if status != 201:
            raise SystemExit(f"create #{i}: {status} {raw[:300]!r}")
        created.append(json.loads(raw)["id"])

    update_ms = []
    for i, iid in enumerate(created):
        if time.monotonic() > deadline:
            raise SystemExit(f"measure exceeded {a.max_seconds}s during updates")
        body = {"incident": {
            "status": "identified",
            "body": f"Update {i}: we identified a faulty deploy and are rolling it back.",
        }}
        t = time.perf_counter()
        status, raw = c.request("PATCH", f"{base}/{iid}", body)
        update_ms.append((time.perf_counter() - t) * 1000)
        if status != 200:
            raise SystemExit(f"update #{i}: {status} {raw[:300]!r}")
    c.close()

    cs, us = stats(create_ms), stats(update_ms)
    print(fmt("create incident (POST)", cs))
    print(fmt("post update (PATCH)", us))
    with open(a.out, "w") as f:
        json.dump({"create": cs, "update": us, "ids": ids + created}, f)


# --- summary-miss -------------------------------------------------------------------------


def cmd_summary_miss(a):
    """summary.json is served from a render cache that every write invalidates. Time N
    renders: an untimed write (a component's description, alternating), then a timed
    GET, which must render afresh. Also times N cache hits for comparison."""
    page_id, comps = site(a.port)
    target = comps[-1]
    writer = Client(a.port, a.key)
    reader = Client(a.port)  # anonymous, like the public
    deadline = time.monotonic() + a.max_seconds
    miss_ms, hit_ms, size = [], [], 0
    for i in range(a.n):
        if time.monotonic() > deadline:
            raise SystemExit(f"summary-miss exceeded {a.max_seconds}s")
        writer.json("PATCH", f"/v1/pages/{page_id}/components/{target}",
                    {"component": {"description": f"Outbound email (bench {i % 2})"}})
        t = time.perf_counter()
        status, raw = reader.request("GET", "/api/v2/summary.json")
        miss_ms.append((time.perf_counter() - t) * 1000)
        if status != 200:
            raise SystemExit(f"summary.json: {status} {raw[:300]!r}")
        size = len(raw)
        t = time.perf_counter()
        status, raw = reader.request("GET", "/api/v2/summary.json")
        hit_ms.append((time.perf_counter() - t) * 1000)
        if status != 200:
            raise SystemExit(f"summary.json: {status} {raw[:300]!r}")
    writer.close()
    reader.close()
    ms, hs = stats(miss_ms), stats(hit_ms)
    print(f"summary.json body {size} bytes")
    print(fmt("summary.json miss", ms))
    print(fmt("summary.json hit", hs))
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"miss": ms, "hit": hs, "bytes": size}, f)


# --- resolve ------------------------------------------------------------------------------


def cmd_resolve(a):
    page_id, _ = site(a.port)
    base = f"/v1/pages/{page_id}/incidents"
    with open(a.ids_from) as f:
        ids = json.load(f)["ids"][: a.max_count]
    c = Client(a.port, a.key)
    deadline = time.monotonic() + a.max_seconds
    for iid in ids:
        if time.monotonic() > deadline:
            raise SystemExit(f"resolve exceeded {a.max_seconds}s")
        c.json("PATCH", f"{base}/{iid}",
               {"incident": {"status": "resolved", "body": "Resolved."}})
    c.close()
    print(f"resolved {len(ids)} benchmark incidents")


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, required=True, help="Herald on 127.0.0.1:PORT")
    p.add_argument("--key", help="API key")
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("seed")
    s.add_argument("--count", type=int, default=10000)
    s.add_argument("--live", type=int, default=5, help="open incidents among COUNT")
    s.add_argument("--workers", type=int, default=4)
    s.add_argument("--max-seconds", type=float, default=300)
    s.add_argument("--out")
    s.set_defaults(func=cmd_seed)

    m = sub.add_parser("measure")
    m.add_argument("--n", type=int, default=500)
    m.add_argument("--warmup", type=int, default=10)
    m.add_argument("--max-seconds", type=float, default=300)
    m.add_argument("--out", required=True)
    m.set_defaults(func=cmd_measure)

    r = sub.add_parser("resolve")
    r.add_argument("--ids-from", required=True)
    r.add_argument("--max-count", type=int, default=2000)
    r.add_argument("--max-seconds", type=float, default=300)
    r.set_defaults(func=cmd_resolve)

    sm = sub.add_parser("summary-miss")
    sm.add_argument("--n", type=int, default=100)
    sm.add_argument("--max-seconds", type=float, default=120)
    sm.add_argument("--out")
    sm.set_defaults(func=cmd_summary_miss)

    a = p.parse_args()
    if not a.key:
        sys.exit("--key is required")
    if a.cmd == "seed" and not 0 <= a.live <= a.count:
        sys.exit("--live must be between 0 and --count")
    a.func(a)


if __name__ == "__main__":
    main()
