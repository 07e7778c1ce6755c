#!/usr/bin/env python3
"""Console client for bench/console.sh: signs in as a browser does and drives the
admin forms, timing each request. Standard library only (urllib + http.cookiejar).

Like a browser it keeps cookies (`herald_csrf`, `herald_session`, `herald_notice`),
reads each form from the page (hidden `csrf`, the component selects as pre-filled)
and submits it with the button that was "clicked". Unlike a browser it never follows
a redirect: a 303 is the answer that is timed. urllib opens a new loopback connection
for every request (it sends `Connection: close`), so each figure includes a TCP
connect, which on 127.0.0.1 costs a few tens of microseconds.

  measure   wrong-password answer, N sign-ins, dashboard GETs, open an incident
            through the console, N updates to it, then delete it (so the public page
            is back to its seeded size); writes a JSON report
  open      signs in, opens an incident through the console, prints its id
  writer    posts one console update to an incident every INTERVAL seconds until a
            stop file appears (or a count or time limit is reached); JSON report

Every loop is bounded by a count and by --max-seconds; everything talks to 127.0.0.1.
"""

import argparse
import html.parser
import http.cookiejar
import json
import math
import os
import re
import sys
import time
import urllib.parse
import urllib.request

TIMEOUT = 60  # seconds, for any one request


def die(message):
    print(f"console_load.py: {message}", file=sys.stderr)
    sys.exit(1)


# --- statistics -------------------------------------------------------------------------------


def percentile(sorted_values, p):
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summary(samples):
    s = sorted(samples)
    if not s:
        return {"n": 0}
    return {
        "n": len(s),
        "median": percentile(s, 50),
        "p90": percentile(s, 90),
        "p99": percentile(s, 99),
        "min": s[0],
        "max": s[-1],
        "mean": sum(s) / len(s),
    }


# --- a browser-like client -------------------------------------------------------------------


class NoRedirects(urllib.request.HTTPErrorProcessor):
    """Hands every answer back as it is: no exception for 4xx/5xx, no redirects
    followed (urllib follows them only from its error processor, which this
    replaces)."""

    def http_response(self, request, response):
        return response

    https_response = http_response


class Reply:
    def __init__(self, status, headers, body, ms):
        self.status = status
        self.headers = headers
        self.body = body
        self.ms = ms

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def header(self, name):
        return self.headers.get(name)


class Client:
    def __init__(self, base):
        self.base = base.rstrip("/")
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), NoRedirects()
        )

    def request(self, method, path, fields=None):
        data = None
        headers = {"User-Agent": "herald-bench-console/1", "Accept": "text/html"}
        if fields is not None:
            data = urllib.parse.urlencode(fields).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        start = time.perf_counter()
        with self.opener.open(req, timeout=TIMEOUT) as res:
            body = res.read()
            status = res.status
            res_headers = res.headers
        ms = (time.perf_counter() - start) * 1000
        return Reply(status, res_headers, body, ms)

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, fields):
        return self.request("POST", path, fields)

    def cookie(self, name):
        for c in self.jar:
            if c.name == name:
                return c.value
        return None


# --- forms as a browser sees them ----------------------------------------------------------


class Forms(html.parser.HTMLParser):
    """Every <form> of a page with its controls in document order."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms = []
        self._form = None
        self._select = None
        self._textarea = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self._form = {"action": a.get("action", ""), "method": a.get("method", "get").lower(),
                          "controls": []}
            self.forms.append(self._form)
            return
        if self._form is None:
            return
        controls = self._form["controls"]
        if tag == "input":
            kind = a.get("type", "text").lower()
            if "name" not in a:
                return
            if kind in ("submit", "image", "button", "reset"):
                controls.append({"kind": "button", "name": a["name"], "value": a.get("value", "")})
            elif kind in ("checkbox", "radio"):
                controls.append({"kind": kind, "name": a["name"], "value": a.get("value", "on"),
                                 "checked": "checked" in a})
            else:
                controls.append({"kind": kind, "name": a["name"], "value": a.get("value", "")})
        elif tag == "button":
            if "name" in a and a.get("type", "submit").lower() == "submit":
                controls.append({"kind": "button", "name": a["name"], "value": a.get("value", "")})
        elif tag == "select" and "name" in a:
            self._select = {"kind": "select", "name": a["name"], "options": [], "value": None}
        elif tag == "option" and self._select is not None:
            value = a.get("value", "")
            self._select["options"].append(value)
            if "selected" in a:
                self._select["value"] = value
        elif tag == "textarea" and "name" in a:
            self._textarea = {"kind": "textarea", "name": a["name"], "value": ""}

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select" and self._select is not None:
            select = self._select
            if select["value"] is None:
                select["value"] = select["options"][0] if select["options"] else ""
            if self._form is not None:
                self._form["controls"].append(select)
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            if self._form is not None:
                self._form["controls"].append(self._textarea)
            self._textarea = None

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea["value"] += data


def find_form(html_text, action_pattern):
    parser = Forms()
    parser.feed(html_text)
    parser.close()
    for form in parser.forms:
        if re.fullmatch(action_pattern, form["action"]):
            return form
    die(f"no form with action matching {action_pattern!r} on the page")


def submission(form, values=None, submitter=None):
    """The fields a browser sends: controls in document order (ticked boxes only,
    buttons only the one clicked), with `values` overriding what the page had."""
    values = values or {}
    fields = []
    for c in form["controls"]:
        if c["kind"] == "button":
            continue
        if c["kind"] in ("checkbox", "radio"):
            checked = values.get(c["name"], c["checked"])
            if checked:
                fields.append((c["name"], c["value"]))
            continue
        fields.append((c["name"], values.get(c["name"], c["value"])))
    if submitter is not None:
        fields.append(submitter)
    return fields


def csrf_in(html_text):
    m = re.search(r'name="csrf" value="([0-9a-f]+)"', html_text)
    return m.group(1) if m else None


# --- console actions ---------------------------------------------------------------------------


def sign_in(base, email, password):
    """A fresh browser: GET the form (untimed), POST it. Returns (client, reply)."""
    client = Client(base)
    page = client.get("/admin/sign-in")
    if page.status != 200:
        die(f"GET /admin/sign-in: {page.status}")
    token = csrf_in(page.text)
    if not token or client.cookie("herald_csrf") != token:
        die("the sign-in form has no csrf field matching the herald_csrf cookie")
    form = find_form(page.text, r"/admin/sign-in")
    fields = submission(form, {"email": email, "password": password, "next": "/admin"})
    reply = client.post("/admin/sign-in", fields)
    return client, reply


def signed_in(base, email, password):
    client, reply = sign_in(base, email, password)
    if reply.status != 303 or client.cookie("herald_session") is None:
        die(f"sign-in failed: {reply.status} {reply.text[:300]}")
    return client


UPDATE_TEXTS = [
    "We have identified the cause: a **failing cache node** in one region. Traffic is being "
    "moved to the healthy nodes.\n\n- API requests: elevated latency\n- Dashboard: slower loads",
    "The fix is deployed and error rates are falling. We are monitoring the API and the "
    "dashboard closely; see [the runbook](https://example.com/runbook) for details.",
]


def open_incident(client, name):
    """Opens an incident through the console form, the first component in partial
    outage. Returns (incident id, the timed reply)."""
    page = client.get("/admin/incidents/new")
    if page.status != 200:
        die(f"GET /admin/incidents/new: {page.status}")
    form = find_form(page.text, r"/admin/incidents/new")
    selects = [c for c in form["controls"]
               if c["kind"] == "select" and c["name"].startswith("incident[components][")]
    if not selects:
        die("the new-incident form has no component selects")
    values = {
        "incident[name]": name,
        "incident[status]": "investigating",
        "incident[body]": "We are investigating elevated error rates on the API.",
        selects[0]["name"]: "partial_outage",
    }
    reply = client.post("/admin/incidents/new", submission(form, values))
    location = reply.header("Location") or ""
    m = re.fullmatch(r"/admin/incidents/([^/?#]+)", location)
    if reply.status != 303 or not m:
        die(f"opening an incident: {reply.status} Location={location!r} {reply.text[:300]}")
    return m.group(1), reply


class Updater:
    """Posts updates through an incident's console form, as a browser would after
    loading the incident's page once: the form's fields, the affected component's
    select changed, and one status button pressed."""

    STATUSES = ("identified", "monitoring")
    COMPONENT = ("degraded_performance", "partial_outage")

    def __init__(self, client, incident_id):
        self.client = client
        self.id = incident_id
        self.path = f"/admin/incidents/{incident_id}/updates"
        page = client.get(f"/admin/incidents/{incident_id}")
        if page.status != 200:
            die(f"GET /admin/incidents/{incident_id}: {page.status}")
        self.form = find_form(page.text, re.escape(self.path))
        buttons = {c["value"] for c in self.form["controls"]
                   if c["kind"] == "button" and c["name"] == "incident[status]"}
        missing = set(self.STATUSES) - buttons
        if missing:
            die(f"the update form has no status button(s) {sorted(missing)} (has {sorted(buttons)})")
        selects = [c for c in self.form["controls"]
                   if c["kind"] == "select" and c["name"].startswith("incident[components][")]
        affected = [c for c in selects if c["value"]]
        self.select = (affected or selects)[0]["name"] if selects else None
        self.components = len(selects)
        self.n = 0

    def post(self):
        n = self.n
        self.n += 1
        values = {"incident[body]": f"{UPDATE_TEXTS[n % 2]}\n\n(update {n + 1})"}
        if self.select:
            values[self.select] = self.COMPONENT[n % 2]
        fields = submission(self.form, values, ("incident[status]", self.STATUSES[n % 2]))
        reply = self.client.post(self.path, fields)
        location = reply.header("Location") or ""
        if reply.status != 303 or not location.startswith(f"/admin/incidents/{self.id}"):
            die(f"posting an update: {reply.status} Location={location!r} {reply.text[:400]}")
        return reply


def delete_incident(client, incident_id):
    page = client.get(f"/admin/incidents/{incident_id}/delete")
    if page.status != 200:
        die(f"GET /admin/incidents/{incident_id}/delete: {page.status}")
    form = find_form(page.text, re.escape(f"/admin/incidents/{incident_id}/delete"))
    reply = client.post(f"/admin/incidents/{incident_id}/delete", submission(form))
    if reply.status != 303:
        die(f"deleting incident {incident_id}: {reply.status} {reply.text[:300]}")
    return reply


class Deadline:
    def __init__(self, seconds, what):
        self.end = time.monotonic() + seconds
        self.what = what

    def check(self):
        if time.monotonic() > self.end:
            die(f"{self.what}: time limit reached")


# --- commands ---------------------------------------------------------------------------------


def cmd_measure(args):
    base = f"http://127.0.0.1:{args.port}"
    deadline = Deadline(args.max_seconds, "measure")
    report = {}

    # 1a. One wrong password, before any other sign-in from this address: the first
    # failure, which the server answers without a pause (it still verifies argon2).
    client, reply = sign_in(base, args.email, args.password + "-wrong")
    if reply.status != 401:
        die(f"wrong password answered {reply.status}, expected 401")
    report["wrong_password"] = {"ms": reply.ms, "status": reply.status}
    print(f"wrong password: {reply.status} in {reply.ms:.1f} ms (first failure)")

    # 1b. N sign-ins, each from a fresh browser (no cookies): GET the form untimed,
    # time the POST (argon2id verification, session cookie, last-sign-in write).
    samples = []
    for _ in range(args.signins):
        deadline.check()
        client, reply = sign_in(base, args.email, args.password)
        if reply.status != 303 or reply.header("Location") != "/admin":
            die(f"sign-in answered {reply.status} Location={reply.header('Location')!r}")
        if client.cookie("herald_session") is None:
            die("sign-in set no herald_session cookie")
        samples.append(reply.ms)
    report["sign_in"] = summary(samples)
    s = report["sign_in"]
    print(f"sign-in x{s['n']}: median {s['median']:.1f} ms, p99 {s['p99']:.1f} ms, max {s['max']:.1f} ms")

    # An open incident, so the dashboard shows one, as it does while people use it.
    incident_id, opened = open_incident(client, "Elevated error rates (console benchmark)")
    report["open_incident_ms"] = opened.ms
    print(f"opened incident {incident_id} through the console in {opened.ms:.1f} ms")

    # 2. The dashboard, with the session cookie.
    samples, size = [], 0
    for _ in range(args.dashboard):
        deadline.check()
        reply = client.get("/admin")
        if reply.status != 200 or "Open incidents" not in reply.text:
            die(f"GET /admin: {reply.status} {reply.text[:200]}")
        samples.append(reply.ms)
        size = len(reply.body)
    report["dashboard"] = summary(samples)
    report["dashboard"]["bytes"] = size
    s = report["dashboard"]
    print(f"GET /admin x{s['n']} ({size} bytes): median {s['median']:.2f} ms, p99 {s['p99']:.2f} ms")

    # 3. Updates through the incident's form; the 303 is not followed.
    updater = Updater(client, incident_id)
    samples = []
    for _ in range(args.updates):
        deadline.check()
        samples.append(updater.post().ms)
    report["update"] = summary(samples)
    report["update"]["form_component_selects"] = updater.components
    s = report["update"]
    print(f"POST update x{s['n']} ({updater.components} component selects in the form): "
          f"median {s['median']:.2f} ms, p99 {s['p99']:.2f} ms, max {s['max']:.2f} ms")

    # Put the public page back as seeded: today's incidents are shown on `/` with every
    # update, and this one now has hundreds.
    reply = delete_incident(client, incident_id)
    report["delete_ms"] = reply.ms
    print(f"deleted the benchmark incident ({args.updates + 1} updates) in {reply.ms:.1f} ms")

    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)


def cmd_open(args):
    base = f"http://127.0.0.1:{args.port}"
    client = signed_in(base, args.email, args.password)
    incident_id, _ = open_incident(client, args.name)
    print(incident_id)


def cmd_writer(args):
    base = f"http://127.0.0.1:{args.port}"
    client = signed_in(base, args.email, args.password)
    updater = Updater(client, args.incident)
    samples = []
    if args.ready_file:
        with open(args.ready_file, "w") as f:
            f.write("ready\n")
    start = time.monotonic()
    due = start
    while len(samples) < args.max_updates:
        if args.stop_file and os.path.exists(args.stop_file):
            break
        if time.monotonic() - start > args.max_seconds:
            print("writer: time limit reached", file=sys.stderr)
            break
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        samples.append(updater.post().ms)
        # One post every INTERVAL; a late one moves the schedule on (no bursts).
        due = max(due + args.interval, time.monotonic())
    report = summary(samples)
    report["seconds"] = time.monotonic() - start
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--email", required=True)
    p.add_argument("--password-file", required=True,
                   help="file whose first line is the password (kept off the command line)")
    sub = p.add_subparsers(dest="command", required=True)

    m = sub.add_parser("measure")
    m.add_argument("--signins", type=int, default=100)
    m.add_argument("--dashboard", type=int, default=300)
    m.add_argument("--updates", type=int, default=200)
    m.add_argument("--max-seconds", type=float, default=900)
    m.add_argument("--out", required=True)

    o = sub.add_parser("open")
    o.add_argument("--name", default="Degraded API performance (console benchmark)")

    w = sub.add_parser("writer")
    w.add_argument("--incident", required=True)
    w.add_argument("--interval", type=float, default=0.2)
    w.add_argument("--max-updates", type=int, default=500)
    w.add_argument("--max-seconds", type=float, default=120)
    w.add_argument("--stop-file")
    w.add_argument("--ready-file")
    w.add_argument("--out", required=True)

    args = p.parse_args()
    with open(args.password_file) as f:
        args.password = f.readline().rstrip("\r\n")
    {"measure": cmd_measure, "open": cmd_open, "writer": cmd_writer}[args.command](args)


if __name__ == "__main__":
    main()
