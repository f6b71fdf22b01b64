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
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--step", action="append", default=[])
    p.add_argument("--delay", type=float, default=0.05)
    p.add_argument("--timeout", type=float, default=5.0)
    a = p.parse_args()
    s = socket.create_connection((a.host, a.port), timeout=a.timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    end = None
    for i, step in enumerate(a.step):
        chunk_hex, want = step.split(":")
        s.sendall(bytes.fromhex(chunk_hex))
        want = int(want)
        got = b""
        deadline = time.monotonic() + a.timeout
        while len(got) < want and end is None:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                end = "reset"
                break
            if not chunk:
                end = "eof"
                break
            got += chunk
        time.sleep(a.delay)
        if end is None:
            extra, end = drain(s)
            got += extra
        print(f"step {i} {got.hex()}", flush=True)
    final = b""
    if end is None:
        s.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + a.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                end = "timeout"
                break
            s.settimeout(left)
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                end = "timeout"
                break
            except ConnectionResetError:
                end = "reset"
                break
            if not chunk:
                end = "eof"
                break
            final += chunk
    s.close()
    print(f"final {final.hex()}")
    print(f"end={end}", flush=True)


if __name__ == "__main__":
    main()
