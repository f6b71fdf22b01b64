#!/usr/bin/env python3
"""A client that sends --count lines, one at a time, each waiting for its
answer: "client<ID> request<I>\\n", expecting a line that starts with
"client<ID> request<I> " (what one_conn_server.py answers).

Prints "ok N" when all N answers were its own, else "wrong: ..." or
"error: ..." for the first problem, and exits 0 only when all were right.
"""
import argparse
import socket
import sys
import time

import peerlib


def main():
    p = peerlib.client_args(argparse.ArgumentParser(), timeout=20.0)
    p.add_argument("--id", required=True)
    p.add_argument("--count", type=int, default=20)
    a = p.parse_args()
    deadline = time.monotonic() + a.timeout
    s = socket.create_connection((a.host, a.port), timeout=a.timeout)
    pending = b""
    for i in range(a.count):
        request = b"client%s request%d" % (a.id.encode(), i)
        s.sendall(request + b"\n")
        while b"\n" not in pending:
            chunk, end = peerlib.recv_until(s, deadline, want=1)
            if end in ("eof", "reset", "timeout") and not chunk:
                print("error: %s after %d answers" % (end, i), flush=True)
                sys.exit(1)
            pending += chunk
        line, pending = pending.split(b"\n", 1)
        if not line.startswith(request + b" "):
            print("wrong: sent %r, got %r" % (request, line), flush=True)
            sys.exit(1)
    s.close()
    print("ok %d" % a.count, flush=True)


if __name__ == "__main__":
    main()
