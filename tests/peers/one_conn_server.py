#!/usr/bin/env python3
"""A device that accepts exactly ONE TCP connection (many PLCs do).

Binds 127.0.0.1 port 0 and prints the port on the first stdout line. The
first connection is accepted and the listening socket closed at once, so a
second client is refused. Each line received is answered with the line
(without its LF), " #N" and LF, N counting every line answered. Logs "conn"
when the connection is accepted and "lines N" when it ends. Bounded by
--lifetime and the socket timeout.
"""
import argparse
import socket
import time

import peerlib


def main():
    args = peerlib.server_args(argparse.ArgumentParser(), lifetime=60, timeout=30.0).parse_args()
    srv = peerlib.listen()
    end = time.monotonic() + args.lifetime
    conn = None
    while conn is None and time.monotonic() < end:
        try:
            conn, _ = srv.accept()
        except socket.timeout:
            continue
    srv.close()
    if conn is None:
        return
    peerlib.log("conn")
    conn.settimeout(args.timeout)
    answered = 0
    pending = b""
    try:
        while time.monotonic() < end:
            chunk = conn.recv(65536)
            if not chunk:
                break
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                answered += 1
                conn.sendall(line + b" #%d\n" % answered)
    except OSError:
        pass
    finally:
        conn.close()
        peerlib.log("lines %d" % answered)


if __name__ == "__main__":
    main()
