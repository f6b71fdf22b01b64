#!/usr/bin/env python3
"""A server that accepts and reads but never answers.

Binds port 0 on 127.0.0.1 and prints the port on stdout. Then, for the tests
to check what reached it, it logs one line per event on stdout (flushed):
`accepted`, `recv N HEX`, `eof`, `closed`. It never writes to a client and
never closes first: after the client half-closes it keeps the connection open
for --hold seconds, so a client waiting for a reply really has to time out.
Bounded by socket timeouts, --hold and --lifetime.
"""
import argparse
import time

import peerlib
from peerlib import log


def serve(conn, timeout, hold):
    conn.settimeout(timeout)
    log("accepted")
    try:
        while True:
            data = conn.recv(65536)
            if not data:
                log("eof")
                time.sleep(hold)
                break
            log(f"recv {len(data)} {data.hex()}")
    except OSError:
        pass
    finally:
        log("closed")
        conn.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--hold", type=float, default=10.0)
    a = peerlib.server_args(p, timeout=30.0).parse_args()
    srv = peerlib.listen()
    peerlib.serve(srv, a.lifetime, lambda conn: serve(conn, a.timeout, a.hold))


if __name__ == "__main__":
    main()
