#!/usr/bin/env python3
"""TCP echo server for the p1ge0n end-to-end tests.

Binds port 0 on --host (default 127.0.0.1), prints the chosen port on stdout,
then echoes every connection byte for byte; when a client half-closes, the
server finishes echoing and closes its side too. Every socket has a timeout
and the whole server exits after --lifetime seconds, so it can never hang a
test run even if the harness forgets to kill it.
"""
import argparse
import socket
import sys

import peerlib


def serve(conn, timeout):
    conn.settimeout(timeout)
    try:
        while True:
            data = conn.recv(65536)
            if not data:
                conn.shutdown(socket.SHUT_WR)
                break
            conn.sendall(data)
    except OSError:
        pass
    finally:
        conn.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    a = peerlib.server_args(p, timeout=30.0).parse_args()
    srv = peerlib.listen(a.host, backlog=128)
    peerlib.serve(srv, a.lifetime, lambda conn: serve(conn, a.timeout))
    sys.exit(0)


if __name__ == "__main__":
    main()
