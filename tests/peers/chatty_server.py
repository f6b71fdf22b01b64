#!/usr/bin/env python3
"""A server that talks without being asked, like a PLC streaming status.

Binds port 0 on 127.0.0.1 and prints the port on stdout. To each client it
sends `tick N\\n` every --interval seconds, unsolicited, while logging what
the client sends, one line per read on stdout (flushed): `recv N HEX`, then
`eof` or `closed`. Bounded by --lifetime (the whole server) and socket
timeouts, so it can never hang a test run.
"""
import argparse
import threading

import peerlib
from peerlib import log


def talk(conn, interval, stop):
    n = 0
    try:
        while not stop.is_set():
            n += 1
            conn.sendall(f"tick {n}\n".encode())
            stop.wait(interval)
    except OSError:
        pass


def serve(conn, interval):
    conn.settimeout(60)
    stop = threading.Event()
    threading.Thread(target=talk, args=(conn, interval, stop), daemon=True).start()
    try:
        while True:
            data = conn.recv(65536)
            if not data:
                log("eof")
                break
            log(f"recv {len(data)} {data.hex()}")
    except OSError:
        log("closed")
    finally:
        stop.set()
        conn.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--interval", type=float, default=0.1)
    a = peerlib.server_args(p).parse_args()
    srv = peerlib.listen()
    peerlib.serve(srv, a.lifetime, lambda conn: serve(conn, a.interval))


if __name__ == "__main__":
    main()
