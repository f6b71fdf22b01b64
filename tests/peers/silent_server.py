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
import socket
import threading
import time

lock = threading.Lock()


def log(line):
    with lock:
        print(line, flush=True)


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
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--hold", type=float, default=10.0)
    p.add_argument("--lifetime", type=float, default=120.0)
    a = p.parse_args()
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(0.5)
    print(srv.getsockname()[1], flush=True)
    end = time.monotonic() + a.lifetime
    while time.monotonic() < end:
        try:
            conn, _ = srv.accept()
        except socket.timeout:
            continue
        threading.Thread(target=serve, args=(conn, a.timeout, a.hold), daemon=True).start()


if __name__ == "__main__":
    main()
