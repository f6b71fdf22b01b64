#!/usr/bin/env python3
"""An S7 client (python-snap7): connect (rack 0, slot 1), read DB1 bytes
0..15 and check them against what tests/peers/s7_server.py holds
(i * 3 + 1). Prints "read <hex>" and exits 0 only if the data is right.
"""
import argparse
import logging
import sys

from snap7.client import Client


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    a = p.parse_args()
    logging.disable(logging.CRITICAL)
    c = Client()
    c.connect(a.host, 0, 1, tcp_port=a.port)
    data = bytes(c.db_read(1, 0, 16))
    c.disconnect()
    print("read " + data.hex(), flush=True)
    expected = bytes((i * 3 + 1) % 256 for i in range(16))
    if data != expected:
        print("expected " + expected.hex(), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
