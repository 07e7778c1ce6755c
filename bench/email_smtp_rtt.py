#!/usr/bin/env python3
"""Where a Herald mail's time goes on the wire (diagnostic for bench/email.sh).

Sends N mails, one after the other on one connection to smtp-sink at 127.0.0.1:PORT,
the way lettre 0.11 (Herald's SMTP client) does it: NOOP (the pool's liveness check),
MAIL, RCPT, DATA, then the body in one write and "\\r\\n.\\r\\n" in a second write — with
Nagle's algorithm on (lettre sets no TCP_NODELAY), then with TCP_NODELAY, then with the
body and the final dot in a single write. Prints the median time per mail of each.
Loopback only; bounded by N.
"""

import argparse
import json
import socket
import statistics
import time


def run(port, size, n, nodelay, split):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    if nodelay:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    f = s.makefile("rb")

    def reply():
        while True:
            line = f.readline()
            if not line:
                raise SystemExit("smtp-sink closed the connection")
            if line[3:4] != b"-":
                return line

    def command(c):
        s.sendall(c)
        return reply()

    reply()
    command(b"EHLO bench.example.com\r\n")
    line = b"X" * 76 + b"\r\n"
    body = b"Subject: rtt probe\r\n\r\n" + line * max(1, size // len(line))
    ms = []
    for _ in range(n):
        t0 = time.perf_counter()
        command(b"NOOP\r\n")
        command(b"MAIL FROM:<status@bench.example.com>\r\n")
        command(b"RCPT TO:<subscriber@bench.example.com>\r\n")
        command(b"DATA\r\n")
        if split:
            s.sendall(body)
            s.sendall(b"\r\n.\r\n")
        else:
            s.sendall(body + b"\r\n.\r\n")
        r = reply()
        if not r.startswith(b"250"):
            raise SystemExit(f"unexpected reply {r!r}")
        ms.append((time.perf_counter() - t0) * 1000)
    command(b"QUIT\r\n")
    s.close()
    return statistics.median(ms)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--n", type=int, default=30)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    res = {
        "lettre_nagle": run(a.port, a.size, a.n, nodelay=False, split=True),
        "lettre_nodelay": run(a.port, a.size, a.n, nodelay=True, split=True),
        "one_write_nagle": run(a.port, a.size, a.n, nodelay=False, split=False),
    }
    print(f"one mail on one connection, {a.n} in a row (median): as lettre writes it "
          f"{res['lettre_nagle']:.2f} ms; with TCP_NODELAY {res['lettre_nodelay']:.2f} ms; "
          f"body and final dot in one write {res['one_write_nagle']:.2f} ms")
    with open(a.out, "w") as f:
        json.dump(res, f)


if __name__ == "__main__":
    main()
