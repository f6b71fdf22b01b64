#!/usr/bin/env python3
"""A server that misbehaves on purpose, for fault tests.

Binds 127.0.0.1 port 0, prints the port on the first stdout line, serves one
client at a time (up to --lifetime seconds in all):
  --mode close-after-first   answer the first line (echo), then close
  --mode reset               read something, then reset the connection (RST)
  --mode close-silently      read something, then close without answering
Logs each event on stdout ("conn", "recv N", "close", "reset").
"""
import argparse
import socket
import struct
import sys

import peerlib

ap = argparse.ArgumentParser()
ap.add_argument("--mode", required=True, choices=["close-after-first", "reset", "close-silently"])
args = peerlib.server_args(ap, lifetime=30).parse_args()


def handle(conn):
    print("conn", flush=True)
    conn.settimeout(5)
    try:
        data = b""
        while b"\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        print("recv", len(data), flush=True)
        if args.mode == "close-after-first":
            first = data.split(b"\n", 1)[0] + b"\n"
            conn.sendall(first)
            conn.close()
            print("close", flush=True)
        elif args.mode == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
            print("reset", flush=True)
        else:
            conn.close()
            print("close", flush=True)
    except OSError as e:
        print("error", e, flush=True)


srv = peerlib.listen(reuseaddr=True)
peerlib.serve(srv, args.lifetime, handle, threaded=False)
sys.exit(0)
