#!/usr/bin/env python3
"""An S7 PLC (python-snap7's server) holding known data in DB1.

Takes a free port from the kernel (snap7 cannot bind port 0 and report it),
prints it as the first stdout line, and serves until --lifetime runs out.
DB1 holds bytes 0..31 with value i * 3 + 1 (mod 256), so a client can
check what it reads.
"""
import argparse
import ctypes
import logging
import socket
import time

import snap7
from snap7.server import Server
from snap7.type import SrvArea


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--lifetime", type=float, default=60.0)
    a = p.parse_args()
    logging.disable(logging.CRITICAL)
    server = Server(log=False)
    db1 = (ctypes.c_ubyte * 32)(*[(i * 3 + 1) % 256 for i in range(32)])
    server.register_area(SrvArea.DB, 1, db1)
    port = free_port()
    server.start(tcp_port=port)
    print(port, flush=True)
    end = time.monotonic() + a.lifetime
    try:
        while time.monotonic() < end:
            time.sleep(0.1)
    finally:
        server.stop()
        server.destroy()


if __name__ == "__main__":
    main()
