#!/usr/bin/env python3
"""N clients that send as fast as they can and never read.

Each thread connects and sends up to --bytes in 64 KiB chunks until its
socket blocks for --seconds (the server stopped reading because we do not
read its echoes: TCP back-pressure). Prints "clients=N sent=BYTES" and exits.
"""
import argparse
import socket
import threading
import time

import peerlib

ap = peerlib.client_args(argparse.ArgumentParser())
ap.add_argument("--clients", type=int, default=50)
ap.add_argument("--bytes", type=int, default=100_000_000)
ap.add_argument("--seconds", type=float, default=3.0)
args = ap.parse_args()

sent = [0] * args.clients
socks = []
chunk = b"\x55" * 65536


def flood(i):
    s = socket.create_connection((args.host, args.port), timeout=5)
    socks.append(s)
    s.settimeout(args.seconds)
    end = time.time() + args.seconds * 3
    try:
        while sent[i] < args.bytes and time.time() < end:
            sent[i] += s.send(chunk)
    except OSError:
        pass  # blocked for --seconds: the server is pushing back


threads = [threading.Thread(target=flood, args=(i,)) for i in range(args.clients)]
for t in threads:
    t.start()
for t in threads:
    t.join(args.seconds * 4)
print(f"clients={args.clients} sent={sum(sent)}", flush=True)
# Keep the connections open until the test has measured the server.
input()
