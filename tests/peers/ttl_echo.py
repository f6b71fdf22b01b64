#!/usr/bin/env python3
"""A UDP echo server that reports the IP TTL (IPv4) or hop limit (IPv6)
each datagram arrived with, to judge `send --ttl`.

Binds --host (default 0.0.0.0) port --port (default 0) and prints the
port as its first stdout line, like every peer here. With --join GROUP it
first joins that multicast group on the interface --iface names (IPv4: an
address of the interface; IPv6: its index; default: the kernel picks).
Then for every datagram it logs `recv TTL PEER HEX` (flushed; TTL is `?`
when the kernel did not say) and sends the datagram back to its sender.
Bounded by --lifetime.
"""
import argparse
import ipaddress
import socket
import struct
import time

import peerlib
from peerlib import log

# Linux's values, for Pythons that do not name them.
IP_RECVTTL = getattr(socket, "IP_RECVTTL", 12)
IP_TTL = getattr(socket, "IP_TTL", 2)
IPV6_RECVHOPLIMIT = getattr(socket, "IPV6_RECVHOPLIMIT", 51)
IPV6_HOPLIMIT = getattr(socket, "IPV6_HOPLIMIT", 52)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--join")
    p.add_argument("--iface", default="")
    a = peerlib.server_args(p, lifetime=60.0).parse_args()

    af = peerlib.family(a.host)
    sock = socket.socket(af, socket.SOCK_DGRAM)
    sock.bind((a.host, a.port))
    if af == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)
        wanted = (socket.IPPROTO_IPV6, IPV6_HOPLIMIT)
    else:
        sock.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
        wanted = (socket.IPPROTO_IP, IP_TTL)
    if a.join:
        group = ipaddress.ip_address(a.join).packed
        if af == socket.AF_INET6:
            mreq = group + struct.pack("@I", int(a.iface or 0))
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
        else:
            mreq = group + socket.inet_aton(a.iface or "0.0.0.0")
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    log(str(sock.getsockname()[1]))

    deadline = time.monotonic() + a.lifetime
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            data, ancillary, _flags, peer = sock.recvmsg(65536, socket.CMSG_SPACE(4))
        except socket.timeout:
            break
        ttl = "?"
        for level, kind, value in ancillary:
            if (level, kind) == wanted:
                ttl = str(struct.unpack("@i", value[:4])[0])
        log(f"recv {ttl} {peer[0]} {data.hex()}")
        sock.sendto(data, peer)


if __name__ == "__main__":
    main()
