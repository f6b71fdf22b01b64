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
import threading
import time


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
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--lifetime", type=float, default=120.0)
    a = p.parse_args()
    family = socket.AF_INET6 if ":" in a.host else socket.AF_INET
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.bind((a.host, 0))
    srv.listen(128)
    srv.settimeout(0.5)
    print(srv.getsockname()[1], flush=True)
    end = time.monotonic() + a.lifetime
    while time.monotonic() < end:
        try:
            conn, _ = srv.accept()
        except socket.timeout:
            continue
        threading.Thread(target=serve, args=(conn, a.timeout), daemon=True).start()
    sys.exit(0)


if __name__ == "__main__":
    main()
