#!/usr/bin/env python3
"""Writes chunks with pauses and records what comes back after each write.

Each --step HEX:N writes the chunk HEX in one sendall(), then reads until N
more bytes have arrived in total for this step (bounded by --timeout), then
pauses --delay seconds and collects anything extra that arrived meanwhile,
so a server that answers too early (a partial frame echoed) is caught.
After the last step it half-closes and reads until the server closes.

Prints one line per step, `step I HEX`, then `final HEX` and `end=REASON`
(eof, reset or timeout). Exits 0; the test judges the output.
"""
import argparse
import select
import socket
import time

import peerlib


def drain(s):
    """Everything readable right now, without blocking."""
    out = b""
    while True:
        r, _, _ = select.select([s], [], [], 0)
        if not r:
            return out, None
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            return out, "reset"
        if not chunk:
            return out, "eof"
        out += chunk


def main():
    p = peerlib.client_args(argparse.ArgumentParser(), timeout=5.0)
    p.add_argument("--step", action="append", default=[])
    p.add_argument("--delay", type=float, default=0.05)
    a = p.parse_args()
    s = socket.create_connection((a.host, a.port), timeout=a.timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    end = None
    for i, step in enumerate(a.step):
        chunk_hex, want = step.split(":")
        s.sendall(bytes.fromhex(chunk_hex))
        want = int(want)
        got = b""
        if want > 0 and end is None:
            # Falling short by the deadline is for the test to judge.
            got, how = peerlib.recv_until(s, time.monotonic() + a.timeout, want)
            if how in ("eof", "reset"):
                end = how
        time.sleep(a.delay)
        if end is None:
            extra, end = drain(s)
            got += extra
        print(f"step {i} {got.hex()}", flush=True)
    final = b""
    if end is None:
        s.shutdown(socket.SHUT_WR)
        final, end = peerlib.recv_until(s, time.monotonic() + a.timeout)
    s.close()
    print(f"final {final.hex()}")
    print(f"end={end}", flush=True)


if __name__ == "__main__":
    main()
