#!/usr/bin/env python3
"""Email fan-out helper for bench/email.sh (Python 3 stdlib only).

Talks only to 127.0.0.1, over keep-alive http.client connections (the Client of
bench/api_latency.py). Every loop is bounded by a count and a wall-clock deadline.

Subcommands:
  idle     with no subscribers: N timed incident posts (each queues a notification
           event that fans out to nobody), then waits until the outbox is empty and
           resolves them without notifications. Also opens the "side" incident that
           `fanout` edits while the mails go out.
  seed     COUNT active subscribers through the management API
           (skip_confirmation_notification, so no confirmation mail), WORKERS threads.
  fanout   posts one incident (timed), then polls /metrics and smtp-sink's counter
           until Herald counts EXPECT more mails sent; records when the notification
           was fanned out, the first and last mail, Herald's CPU time, the peak number
           of SMTP connections, and the latency of writes made during the fan-out.
  source   runs smtp-source against the same sink and times it until the sink has
           counted every message.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from api_latency import Client, site, stats  # noqa: E402

INCIDENT = {
    "name": "Elevated error rates on the API",
    "body": "We are investigating elevated error rates and timeouts on the public API. "
            "Some requests may fail; retries are likely to succeed. Next update in 30 minutes.",
}
CLK_TCK = os.sysconf("SC_CLK_TCK")


class Metrics:
    """Herald's outbox counters from GET /metrics. If that answers 500 and a database URL
    was given (PostgreSQL), the same counts come from one read-only SQL query on a psql
    kept open (see the notice printed then)."""

    SQL = ("SELECT count(*) FILTER (WHERE sent_at IS NULL AND failed_at IS NULL), "
           "count(*) FILTER (WHERE sent_at IS NOT NULL), count(*) FILTER (WHERE failed_at IS NOT NULL), "
           "COALESCE(SUM(GREATEST(attempts - 1, 0)), 0), "
           "(SELECT count(*) FROM notification_events WHERE fanned_out_at IS NULL) FROM deliveries;\n")
    NAMES = ("herald_outbox_queued", "herald_mail_sent_total", "herald_mail_failed_total",
             "herald_mail_retries_total", "herald_outbox_events_waiting")

    def __init__(self, port, db_url=None):
        self.client = Client(port)
        self.db_url = db_url
        self.psql = None

    def get(self):
        if self.psql is None:
            status, raw = self.client.request("GET", "/metrics")
            if status == 200:
                out = {}
                for line in raw.decode().splitlines():
                    if line and not line.startswith("#"):
                        name, value = line.split()
                        out[name] = float(value)
                return out
            if not self.db_url:
                raise SystemExit(f"GET /metrics: {status} {raw[:300]!r}")
            print(f"  notice: GET /metrics answers {status} {raw[:80]!r}; counting the outbox "
                  "with read-only SQL on the benchmark database instead", flush=True)
            self.psql = subprocess.Popen(["psql", self.db_url, "-qAtX", "-F", " ", "-v", "ON_ERROR_STOP=1"],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.psql.stdin.write(self.SQL)
        self.psql.stdin.flush()
        line = self.psql.stdout.readline()
        if not line:
            raise SystemExit("psql gave no answer")
        return dict(zip(self.NAMES, map(float, line.split())))

    @property
    def via_sql(self):
        return self.psql is not None

    def close(self):
        self.client.close()
        if self.psql is not None:
            self.psql.stdin.close()
            self.psql.wait(timeout=10)


def sink_count(path):
    """smtp-sink -c rewrites 'sess=N quit=N mesg=N\\r' after every event: the last
    complete record is the current count (messages whose final '.' was answered)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 400))
            tail = f.read().decode(errors="replace")
    except FileNotFoundError:
        return {"sess": 0, "mesg": 0}
    records = re.findall(r"sess=(\d+) quit=(\d+) mesg=(\d+)", tail)
    if not records:
        return {"sess": 0, "mesg": 0}
    sess, _, mesg = records[-1]
    return {"sess": int(sess), "mesg": int(mesg)}


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (FileNotFoundError, ProcessLookupError, IndexError):
            pass
    return total / CLK_TCK


def postgres_pids():
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    if f.read().strip() == "postgres":
                        pids.append(int(entry))
            except OSError:
                pass
    return pids


def connections_to(port):
    """Established TCP connections to 127.0.0.1:port (client side), from /proc/net/tcp."""
    want = f":{port:04X}"
    n = 0
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                parts = line.split()
                if parts[2].endswith(want) and parts[3] == "01":
                    n += 1
    except OSError:
        pass
    return n


def wait_outbox_empty(mx, deadline):
    while time.monotonic() < deadline:
        m = mx.get()
        if m["herald_outbox_events_waiting"] == 0 and m["herald_outbox_queued"] == 0:
            return m
        time.sleep(0.1)
    raise SystemExit("outbox did not drain in time")


# --- idle -------------------------------------------------------------------------------


def cmd_idle(a):
    page_id, comps = site(a.port)
    c = Client(a.port, a.key)
    base = f"/v1/pages/{page_id}/incidents"
    ms, ids = [], []
    for i in range(a.n):
        body = {"incident": dict(INCIDENT, name=f"Warm-up incident {i + 1}",
                                 components={comps[0]: "major_outage"})}
        t0 = time.perf_counter()
        inc = c.json("POST", base, body, expect=201)
        ms.append((time.perf_counter() - t0) * 1000)
        ids.append(inc["id"])
    deadline = time.monotonic() + a.max_seconds
    mx = Metrics(a.port, a.db_url)
    wait_outbox_empty(mx, deadline)
    for inc_id in ids:
        c.json("PATCH", f"{base}/{inc_id}", {"incident": {
            "status": "resolved", "body": "Resolved.", "deliver_notifications": False,
            "components": {comps[0]: "operational"}}})
    # The side incident, edited during the fan-out (never notifies).
    side = c.json("POST", base, {"incident": {
        "name": "Side incident (benchmark writes during the fan-out)", "body": "Open.",
        "deliver_notifications": False, "components": {comps[-1]: "degraded_performance"}}},
        expect=201)
    m = wait_outbox_empty(mx, deadline)
    mx.close()
    st = stats(ms)
    print(f"posting an incident with 0 subscribers: {a.n} posts, median {st['median']:.1f} ms, "
          f"max {st['max']:.1f} ms (first {ms[0]:.1f} ms)")
    with open(a.out, "w") as f:
        json.dump({"post_ms": ms, "stats": st, "side_incident": side["id"],
                   "sent_before": m["herald_mail_sent_total"]}, f)


# --- probe ------------------------------------------------------------------------------


def cmd_probe(a):
    """One subscriber, the benchmark's incident, and the .eml that Herald writes when no
    SMTP server is configured: the size of one real notification mail."""
    page_id, comps = site(a.port)
    c = Client(a.port, a.key)
    c.json("POST", f"/v1/pages/{page_id}/subscribers", {"subscriber": {
        "email": "subscriber000000@bench.example.com", "skip_confirmation_notification": True}},
        expect=201)
    c.json("POST", f"/v1/pages/{page_id}/incidents",
           {"incident": dict(INCIDENT, components={comps[0]: "major_outage"})}, expect=201)
    deadline = time.monotonic() + a.max_seconds
    while time.monotonic() < deadline:
        emls = [e for e in os.listdir(a.outbox) if e.endswith(".eml")] if os.path.isdir(a.outbox) else []
        if emls:
            path = os.path.join(a.outbox, emls[0])
            time.sleep(0.2)  # let the writer finish
            with open(path, "rb") as f:
                raw = f.read()
            kinds = sorted(set(re.findall(rb"(?im)^content-type:\s*([a-z]+/[a-z0-9.+-]+)", raw)))
            print(f"one notification mail: {len(raw)} bytes ({', '.join(k.decode() for k in kinds)})")
            with open(a.out, "w") as f:
                json.dump({"bytes": len(raw), "types": [k.decode() for k in kinds]}, f)
            return
        time.sleep(0.1)
    raise SystemExit(f"no .eml appeared in {a.outbox}")


# --- seed -------------------------------------------------------------------------------


def cmd_seed(a):
    page_id, _ = site(a.port)
    path = f"/v1/pages/{page_id}/subscribers"
    deadline = time.monotonic() + a.max_seconds
    lock = threading.Lock()
    state = {"next": 0, "done": 0, "error": None}
    ms = []

    def worker():
        c = Client(a.port, a.key)
        local = []
        try:
            while True:
                with lock:
                    if state["error"] or state["next"] >= a.count:
                        return
                    if time.monotonic() > deadline:
                        state["error"] = f"seeding exceeded {a.max_seconds}s"
                        return
                    i = state["next"]
                    state["next"] += 1
                body = {"subscriber": {"email": f"subscriber{i:06d}@bench.example.com",
                                       "skip_confirmation_notification": True}}
                t0 = time.perf_counter()
                status, raw = c.request("POST", path, body)
                local.append((time.perf_counter() - t0) * 1000)
                with lock:
                    if status != 201:
                        state["error"] = f"POST subscriber #{i}: {status} {raw[:300]!r}"
                        return
                    state["done"] += 1
        finally:
            with lock:
                ms.extend(local)
            c.close()

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(a.workers)]
    for t in threads:
        t.start()
    last = t0
    while any(t.is_alive() for t in threads):
        time.sleep(0.2)
        if time.monotonic() - last > 15:
            last = time.monotonic()
            print(f"  seeded {state['done']}/{a.count} ({last - t0:.0f}s)", flush=True)
    for t in threads:
        t.join()
    if state["error"]:
        raise SystemExit("seed failed: " + state["error"])
    elapsed = time.monotonic() - t0
    st = stats(ms)
    print(f"seeded {state['done']} active subscribers in {elapsed:.1f}s ({state['done'] / elapsed:.0f}/s, "
          f"{a.workers} client threads; per request median {st['median']:.1f} ms, p99 {st['p99']:.1f} ms)")
    with open(a.out, "w") as f:
        json.dump({"seed_seconds": elapsed, "seeded": state["done"], "request": st}, f)


# --- fanout -----------------------------------------------------------------------------


def cmd_fanout(a):
    page_id, comps = site(a.port)
    base = f"/v1/pages/{page_id}/incidents"
    c = Client(a.port, a.key)
    poll = Metrics(a.port, a.db_url)
    m0 = poll.get()
    if m0["herald_outbox_events_waiting"] or m0["herald_outbox_queued"]:
        raise SystemExit(f"outbox not empty before the run: {m0}")
    sink0 = sink_count(a.sink_out)
    sent0, failed0, retries0 = (m0["herald_mail_sent_total"], m0["herald_mail_failed_total"],
                                m0["herald_mail_retries_total"])
    pg = postgres_pids() if a.postgres else []
    cpu_h0, cpu_s0, cpu_pg0 = cpu_seconds([a.herald_pid]), cpu_seconds([a.sink_pid]), cpu_seconds(pg)

    body = {"incident": dict(INCIDENT, components={comps[0]: "major_outage"})}
    t0 = time.perf_counter()
    inc = c.json("POST", base, body, expect=201)
    post_ms = (time.perf_counter() - t0) * 1000

    # Writes during the fan-out: an incident update without notifications, about once a
    # second, on its own connection (the operator keeps posting while mails go out).
    write_ms, stop = [], threading.Event()

    def writer():
        w = Client(a.port, a.key)
        n = 0
        while not stop.wait(1.0) and n < a.max_seconds:
            n += 1
            t = time.perf_counter()
            w.json("PATCH", f"{base}/{a.side_incident}", {"incident": {
                "status": "identified" if n % 2 else "monitoring",
                "body": f"Side update {n}.", "deliver_notifications": False}})
            write_ms.append((time.perf_counter() - t) * 1000)
        w.close()

    wt = threading.Thread(target=writer)
    if a.side_incident:
        wt.start()

    marks = {}
    timeline = []  # (seconds, sent, sink)
    peak_conns = 0
    deadline = t0 + a.max_seconds
    last_print = t0
    done = False
    while time.perf_counter() < deadline:
        m = poll.get()
        s = sink_count(a.sink_out)
        now = time.perf_counter() - t0
        sent = m["herald_mail_sent_total"] - sent0
        failed = m["herald_mail_failed_total"] - failed0
        got = s["mesg"] - sink0["mesg"]
        peak_conns = max(peak_conns, connections_to(a.sink_port))
        timeline.append((round(now, 3), int(sent), got))
        if "fanned_out" not in marks and m["herald_outbox_events_waiting"] == 0 \
                and m["herald_outbox_queued"] + sent + failed >= a.expect:
            marks["fanned_out"] = now
        if "first_sent" not in marks and sent > 0:
            marks["first_sent"] = now
        if "sink_all" not in marks and got >= a.expect:
            marks["sink_all"] = now
        if sent + failed >= a.expect:
            marks["herald_all"] = now
            if got >= a.expect or time.perf_counter() > deadline - 1:
                done = True
                break
        if time.perf_counter() - last_print > 10:
            last_print = time.perf_counter()
            print(f"  {now:5.0f}s: sent {int(sent)}, failed {int(failed)}, queued {int(m['herald_outbox_queued'])}, "
                  f"sink {got}", flush=True)
        time.sleep(a.poll)
    stop.set()
    if a.side_incident:
        wt.join()
    m = poll.get()
    poll.close()
    s = sink_count(a.sink_out)
    cpu_h = cpu_seconds([a.herald_pid]) - cpu_h0
    cpu_s = cpu_seconds([a.sink_pid]) - cpu_s0
    cpu_pg = cpu_seconds(pg) - cpu_pg0 if pg else None
    res = {
        "incident": inc["id"],
        "post_ms": post_ms,
        "marks": marks,
        "sent": int(m["herald_mail_sent_total"] - sent0),
        "failed": int(m["herald_mail_failed_total"] - failed0),
        "retries": int(m["herald_mail_retries_total"] - retries0),
        "sink_received": s["mesg"] - sink0["mesg"],
        "sink_sessions_closed": s["sess"] - sink0["sess"],
        "peak_smtp_connections": peak_conns,
        "herald_cpu_s": cpu_h,
        "sink_cpu_s": cpu_s,
        "postgres_cpu_s": cpu_pg,
        "writes_during": stats(write_ms) if write_ms else None,
        "timeline": timeline,
        "complete": done,
        "counted_via_sql": poll.via_sql,
    }
    total = marks.get("herald_all")
    if total:
        res["mails_per_s"] = res["sent"] / total
        # Steady state: from the first mail to the last, without the fan-out and
        # the first claim.
        first = marks.get("first_sent", 0)
        res["steady_mails_per_s"] = res["sent"] / max(1e-9, total - first)
    with open(a.out, "w") as f:
        json.dump(res, f)
    print(f"posting the incident ({a.expect} subscribers): {post_ms:.1f} ms")
    print(f"fanned out into deliveries after {marks.get('fanned_out', float('nan')):.2f}s, "
          f"first mail accepted after {marks.get('first_sent', float('nan')):.2f}s")
    if total:
        print(f"all {res['sent']} mails accepted after {total:.2f}s by Herald's count, "
              f"{marks.get('sink_all', float('nan')):.2f}s by the sink's "
              f"({res['mails_per_s']:.0f} mails/s overall, {res['steady_mails_per_s']:.0f}/s from the first mail)")
    print(f"failed {res['failed']}, retries {res['retries']}, sink received {res['sink_received']}, "
          f"peak SMTP connections {peak_conns}, sessions closed meanwhile {res['sink_sessions_closed']}")
    pg_txt = f", postgres {cpu_pg:.1f}s" if cpu_pg is not None else ""
    print(f"CPU during the run: herald {cpu_h:.1f}s, smtp-sink {cpu_s:.1f}s{pg_txt}")
    if write_ms:
        w = res["writes_during"]
        print(f"incident update (no notification) during the fan-out: {w['n']} writes, "
              f"median {w['median']:.1f} ms, max {w['max']:.1f} ms")
    if not done:
        raise SystemExit(f"fan-out incomplete after {a.max_seconds}s: sent {res['sent']}, "
                         f"failed {res['failed']}, sink {res['sink_received']}")
    if res["failed"]:
        raise SystemExit(f"{res['failed']} mails failed")


# --- source -----------------------------------------------------------------------------


def cmd_source(a):
    cmd = ["smtp-source", "-d", "-s", str(a.sessions), "-m", str(a.n), "-l", str(a.size),
           "-f", "status@bench.example.com", "-t", "subscriber@bench.example.com",
           "-S", "Elevated error rates on the API", f"127.0.0.1:{a.sink_port}"]
    print(" ".join(cmd) + f"   ({a.repeat} runs)")
    runs = []
    for _ in range(a.repeat):
        sink0 = sink_count(a.sink_out)["mesg"]
        cpu_s0 = cpu_seconds([a.sink_pid])
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, timeout=a.max_seconds, capture_output=True, text=True)
        exited = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"smtp-source failed ({proc.returncode}): {proc.stderr[:500]}")
        got = 0
        while time.perf_counter() - t0 < a.max_seconds:
            got = sink_count(a.sink_out)["mesg"] - sink0
            if got >= a.n:
                break
            time.sleep(0.01)
        until_sink = time.perf_counter() - t0
        if got < a.n:
            raise SystemExit(f"the sink counted only {got} of {a.n}")
        runs.append({"seconds": exited, "seconds_until_sink": until_sink,
                     "sink_cpu_s": cpu_seconds([a.sink_pid]) - cpu_s0})
        print(f"  {a.n} mails of {a.size} bytes in {exited:.2f}s ({a.n / exited:.0f} mails/s), "
              f"all counted by the sink after {until_sink:.2f}s")
    # The median run by time stands for smtp-source (others share these cores).
    med = sorted(runs, key=lambda r: r["seconds_until_sink"])[len(runs) // 2]
    res = dict(med, mails_per_s=a.n / med["seconds_until_sink"], runs=runs, cmd=" ".join(cmd))
    with open(a.out, "w") as f:
        json.dump(res, f)
    print(f"smtp-source, median of {a.repeat}: {med['seconds_until_sink']:.2f}s until the sink counted all "
          f"({res['mails_per_s']:.0f} mails/s); smtp-sink CPU {med['sink_cpu_s']:.2f}s")


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    i = sub.add_parser("idle")
    i.add_argument("--n", type=int, default=5)
    pr = sub.add_parser("probe")
    pr.add_argument("--outbox", required=True)
    s = sub.add_parser("seed")
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--workers", type=int, default=4)
    f = sub.add_parser("fanout")
    f.add_argument("--expect", type=int, required=True)
    f.add_argument("--herald-pid", type=int, required=True)
    f.add_argument("--side-incident")
    f.add_argument("--postgres", action="store_true")
    f.add_argument("--poll", type=float, default=0.1)
    so = sub.add_parser("source")
    so.add_argument("--n", type=int, required=True)
    so.add_argument("--size", type=int, required=True)
    so.add_argument("--sessions", type=int, default=8)
    so.add_argument("--repeat", type=int, default=3)
    for x in (i, f):
        x.add_argument("--db-url", help="PostgreSQL: count with SQL if GET /metrics fails")
    for x in (i, pr, s, f):
        x.add_argument("--port", type=int, required=True)
        x.add_argument("--key", required=True)
    for x in (f, so):
        x.add_argument("--sink-out", required=True)
        x.add_argument("--sink-port", type=int, required=True)
        x.add_argument("--sink-pid", type=int, required=True)
    for x in (i, pr, s, f, so):
        x.add_argument("--max-seconds", type=float, default=600)
        x.add_argument("--out", required=True)
    a = p.parse_args()
    {"idle": cmd_idle, "probe": cmd_probe, "seed": cmd_seed, "fanout": cmd_fanout, "source": cmd_source}[a.cmd](a)


if __name__ == "__main__":
    main()
