#!/usr/bin/env python3
"""A classic socket client, written the way a device simulator would be.

socket(), connect(), sendall(), recv() until --expect bytes arrived, the peer
closed, or --timeout passed; close(). Output on stdout, one item per line:

    local=HOST:PORT      the client's own address (what the server sees)
    data=HEX             every byte received, as hex (empty when none)
    end=REASON           count (got --expect bytes), eof (recv returned b''),
                         reset (connection reset), or timeout

--bind picks the source address (127.0.0.2 is loopback too on Linux).
With --expect 0 it reads until eof/reset/timeout. --send-hex is the payload.
Exit status 0 unless connecting failed (3).
"""
import argparse
import socket
import sys
import time

import peerlib


def main():
    p = peerlib.client_args(argparse.ArgumentParser(), timeout=5.0)
    p.add_argument("--send-hex", default="")
    p.add_argument("--expect", type=int, default=0)
    p.add_argument("--bind", default=None, help="source address, e.g. 127.0.0.2")
    a = p.parse_args()
    s = socket.socket(peerlib.family(a.host), socket.SOCK_STREAM)
    s.settimeout(a.timeout)
    if a.bind:
        s.bind((a.bind, 0))
    try:
        s.connect((a.host, a.port))
    except OSError as e:
        print(f"connect failed: {e}", file=sys.stderr)
        sys.exit(3)
    host, port = s.getsockname()[:2]
    print(f"local={host}:{port}", flush=True)
    payload = bytes.fromhex(a.send_hex)
    end = None
    try:
        if payload:
            s.sendall(payload)
    except OSError:
        end = "reset"
    got = b""
    if end is None:
        got, end = peerlib.recv_until(s, time.monotonic() + a.timeout, a.expect)
    s.close()
    print(f"data={got.hex()}")
    print(f"end={end}", flush=True)


if __name__ == "__main__":
    main()
