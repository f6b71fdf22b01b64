#!/usr/bin/env python3
"""A scripted IEC 60870-5-104 session, both ends, for the capture fixtures
(tests/fixtures/make_decode_captures.sh makes iec104.pcap and the IEC-104
flow of mixed.pcap with it).

    iec104_session.py serve [--lifetime S]   the controlled station (RTU)
    iec104_session.py client --port P        the controlling station

The server binds 127.0.0.1 port 0 and prints the port as its first stdout
line (a bare number, like the other peers here). Each side sends its APDUs
of SESSION in turn and checks that the other side's are exactly the
scripted ones; the client exits 0 only if every APDU was. The bytes are the
same on every run (unlike c104's, whose session depends on timing), and
the controlling station acknowledges every I frame with an S frame (w = 1),
so every turn of the conversation is one APDU: a replay of the capture
shows one message per APDU.

Station 47: single points 100 (on) and 101 (off), short floats 1001
(23.5) and 1002 (230.75); after the general interrogation 1001 changes
to 24.0 and 101 comes on with its invalid bit set.
"""
import argparse
import socket
import struct
import sys
import time

import peerlib

CA = 47


def u(function):
    """A U frame: STARTDT act 0x07, con 0x0b; TESTFR act 0x43, con 0x83."""
    return bytes([0x68, 4, function, 0, 0, 0])


def s(nr):
    return bytes([0x68, 4, 1, 0]) + struct.pack("<H", nr << 1)


def i(ns, nr, asdu):
    return bytes([0x68, 4 + len(asdu)]) + struct.pack("<HH", ns << 1, nr << 1) + asdu


def asdu(type_id, cot, objects):
    """objects: (ioa, element bytes) each; SQ = 0, originator 0."""
    body = b"".join(struct.pack("<I", ioa)[:3] + element for ioa, element in objects)
    return bytes([type_id, len(objects), cot, 0]) + struct.pack("<H", CA) + body


def sp(value):  # M_SP_NA_1: SIQ
    return bytes([value])


def nc(value, qds=0):  # M_ME_NC_1: IEEE 754 short float, QDS
    return struct.pack("<fB", value, qds)


C_IC_NA_1, M_SP_NA_1, M_ME_NC_1 = 100, 1, 13
ACT, ACTCON, ACTTERM, SPONT, INROGEN = 6, 7, 10, 3, 20

# (who sends it, the APDU), in order.
SESSION = [
    ("client", u(0x07)),  # STARTDT act
    ("server", u(0x0B)),  # STARTDT con
    ("client", i(0, 0, asdu(C_IC_NA_1, ACT, [(0, bytes([20]))]))),
    ("server", i(0, 1, asdu(C_IC_NA_1, ACTCON, [(0, bytes([20]))]))),
    ("client", s(1)),
    ("server", i(1, 1, asdu(M_SP_NA_1, INROGEN, [(100, sp(1)), (101, sp(0))]))),
    ("client", s(2)),
    ("server", i(2, 1, asdu(M_ME_NC_1, INROGEN, [(1001, nc(23.5)), (1002, nc(230.75))]))),
    ("client", s(3)),
    ("server", i(3, 1, asdu(C_IC_NA_1, ACTTERM, [(0, bytes([20]))]))),
    ("client", s(4)),
    ("server", i(4, 1, asdu(M_ME_NC_1, SPONT, [(1001, nc(24.0))]))),
    ("client", s(5)),
    ("server", i(5, 1, asdu(M_SP_NA_1, SPONT, [(101, sp(0x81))]))),  # on, invalid
    ("client", u(0x43)),  # TESTFR act
    ("server", u(0x83)),  # TESTFR con
    ("client", s(6)),
]


def read_exactly(conn, n, deadline):
    """n bytes, or fewer if the peer closed or the deadline passed."""
    got = b""
    while len(got) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        conn.settimeout(left)
        try:
            chunk = conn.recv(n - len(got))
        except (socket.timeout, ConnectionResetError):
            break
        if not chunk:
            break
        got += chunk
    return got


def read_apdu(conn, deadline):
    """One APDU: the start byte, its length, and that many bytes."""
    head = read_exactly(conn, 2, deadline)
    if len(head) < 2:
        return head
    return head + read_exactly(conn, head[1], deadline)


def play(conn, me, timeout):
    """Play `me`'s side of SESSION on `conn`; True if the other side
    sent exactly its APDUs."""
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for who, apdu in SESSION:
        if who == me:
            time.sleep(0.02)
            conn.sendall(apdu)
            continue
        got = read_apdu(conn, time.monotonic() + timeout)
        if got != apdu:
            print(f"{me}: expected {apdu.hex()}, got {got.hex()}", file=sys.stderr)
            return False
    return True


def main():
    parser = argparse.ArgumentParser()
    roles = parser.add_subparsers(dest="role", required=True)
    peerlib.server_args(roles.add_parser("serve"), lifetime=60.0, timeout=5.0)
    peerlib.client_args(roles.add_parser("client"), timeout=5.0)
    args = parser.parse_args()
    if args.role == "serve":
        srv = peerlib.listen()

        def handle(conn):
            with conn:
                play(conn, "server", args.timeout)
                # The client closes after its last S frame.
                peerlib.recv_until(conn, time.monotonic() + args.timeout)

        peerlib.serve(srv, args.lifetime, handle)
        return 0
    with socket.create_connection((args.host, args.port), timeout=args.timeout) as conn:
        ok = play(conn, "client", args.timeout)
        time.sleep(0.02)
    print("session", "ok" if ok else "differs")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
