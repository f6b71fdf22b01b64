#!/usr/bin/env python3
"""Writes the committed seed corpora in fuzz/corpus/<target>/.

Rerun after changing it: `python3 fuzz/seeds/make_seeds.py` (from the
repository root). Python standard library only. Files are named by content
kind, so rerunning overwrites rather than duplicates; libFuzzer's own
additions go to fuzz/corpus-work/ (ignored), never here.
"""
import os
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "corpus")
FIXTURES = os.path.join(os.path.dirname(ROOT), "tests", "fixtures")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- payload: text and hex syntax, valid and broken ----
for i, s in enumerate([
    "hello",
    r"\x02READ\x03",
    r"AT+CGMR\r\n",
    r"\e[0m\t\0\\",
    "héllo ✓",
    r"\x4",
    r"\q",
    "\\",
    r"bad \é",
    "0x01 0x02,0x03:04",
    "02 31 32 03",
    "DEADbeef",
    "0x",
    "0x2g",
    "023",
    "de:ad\tbe\nef",
]):
    put("payload", f"seed-{i:02}", s)

# ---- frame_spec: every framing, options, and typical mistakes ----
for i, s in enumerate([
    "raw", "line", "crlf", "cr", "stx-etx",
    r"delim=\r\n", "delim=END", r"delim=\x00\xff", "delim=é",
    "fixed=7", "fixed=0", "fixed=99999999999999999999999",
    "len=u8", "len=u16be,offset=2,includes-header", "len=u32le",
    "len=u16le,includes-header,offset=4", "len=u32be,offset=18446744073709551613",
    "len=u8,,offset=1", "len=u64", "delim=", r"delim=\x", "line=1", "bogus",
]):
    put("frame_spec", f"seed-{i:02}", s)

# ---- frame_decoder: [spec][max][n][n chunk sizes][stream] ----
# Spec and max indices as in fuzz_targets/frame_decoder.rs:
SPEC = {s: i for i, s in enumerate([
    "raw", "line", "crlf", "cr", "delim=\\r\\n", "delim=END", "stx-etx",
    "fixed=7", "len=u8", "len=u16be,offset=2,includes-header", "len=u32le",
    "len=u16le,offset=1", "len=u32be,includes-header",
])}
MAX = {m: i for i, m in enumerate(
    [0, 1, 2, 6, 7, 8, 16, 255, 256, 4096, 65535, 1024 * 1024])}


def frames(spec, max_frame, sizes, stream):
    return bytes([SPEC[spec], MAX[max_frame], len(sizes)] + sizes) + stream


modbus = bytes.fromhex("000100000006010300000002") + bytes.fromhex("00020000000601030000000a")
decoder_seeds = [
    ("raw", 4096, [3, 0x85], b"hello world"),
    ("line", 4096, [1], b"GET / HTTP/1.0\nHost: x\n\npartial"),
    ("line", 6, [], b"short\ntoo long line\n"),
    ("crlf", 256, [2, 0x81], b"+OK\r\n-ERR\r\r\n\r\nrest"),
    ("cr", 16, [4], b"ATZ\rOK\r\rAT+X"),
    ("delim=\\r\\n", 1024 * 1024, [5], b"a\r\nb\r\n\r"),
    ("delim=END", 8, [1, 2, 3], b"xxENDyyENENDzz"),
    ("stx-etx", 16, [3], b"junk\x02frame\x03\x03\x02\x02nested\x03tail\x02open"),
    ("stx-etx", 2, [], b"\x02\x03\x02x\x03"),
    ("fixed=7", 8, [3, 0x84], b"0123456789abcdefghij"),
    ("fixed=7", 6, [], b"abc"),
    ("len=u8", 256, [2], b"\x03abc\x00\x05hello\x02h"),
    ("len=u16be,offset=2,includes-header", 4096, [1],
     b"\xab\xcd\x00\x06hiXX\x00\x04\x00\x01"),
    ("len=u16be,offset=2,includes-header", 4096, [], b"\x00\x00\x00\x02"),
    ("len=u32le", 16, [0x83], b"\x02\x00\x00\x00ok\xff\xff\xff\xff"),
    ("len=u16le,offset=1", 65535, [2], b"\x01\x03\x00abc\x09\x00\x00"),
    ("len=u32be,includes-header", 4096, [4], b"\x00\x00\x00\x06hi\x00\x00\x00\x02"),
    ("len=u8", 0, [], b"\x01a"),
    ("len=u16be,offset=2,includes-header", 7, [1], modbus),
]
for i, (spec, mx, sizes, stream) in enumerate(decoder_seeds):
    put("frame_decoder", f"seed-{i:02}", frames(spec, mx, sizes, stream))

# ---- capture: JSON Lines captures and scripts ----
HEADER = ('{"p1ge0n":"capture","version":1,"started":"2026-11-25T13:00:00.000000Z",'
          '"transport":"tcp","local":"127.0.0.1:9000","side":"server"}\n')


def event(t, conn, kind, extra=""):
    return (f'{{"t":{t},"conn":{conn},"peer":"127.0.0.1:5000","event":"{kind}"'
            f'{extra}}}\n')


capture = (HEADER + event(0.0, 1, "open")
           + event(0.1, 1, "data", ',"from":"client","len":2,"hex":"6869","text":"hi"')
           + event(0.2, 1, "data", ',"from":"server","len":3,"hex":"6f6b0a"')
           + event(0.3, 2, "data", ',"from":"client","hex":"00"')
           + event(0.4, 1, "close"))
put("capture", "capture-server", capture)
put("capture", "capture-client-udp-v6",
    '{"p1ge0n":"capture","version":1,"started":"2026-11-25T13:00:00Z",'
    '"transport":"udp","local":"[::1]:9000","side":"client"}\n\n'
    '{"t":1e-3,"conn":7,"peer":"[fe80::1]:53","event":"data","from":"server","hex":""}\r\n'
    '{"t":2,"conn":7,"peer":"[fe80::1]:53","event":"error","message":"x"}\n')
put("capture", "capture-bad-len", HEADER + event(0.1, 1, "data", ',"from":"client","len":5,"hex":"68"'))
put("capture", "capture-bad-version", HEADER.replace('"version":1', '"version":2'))
put("capture", "script-text",
    "# a hand-written script\n> \\x02READ\\x03\n+250ms\n< \\x02OK\\x03\n  >no space\n\n+1.5s\n> bye\\r\\n\n")
put("capture", "script-hex", "> 00 01 00 00 00 06 01 03 00 00 00 02\n+ 20ms\n< 0x00,0x01\n>deadbeef\n")
put("capture", "script-errors", "> ok\n< \\q\n? what\n+soon\n")
put("capture", "script-no-send", "< only a reply\n")
put("capture", "script-long-pause", "> a\n+10000000000000000000s\n+1d\n> b\n")

# ---- cli_values: targets, listen addresses, networks, durations ----
for i, s in enumerate([
    "127.0.0.1:502", "plc.local:9000", "[::1]:8080", "[fe80::1]:1", "::1:80", "host:0",
    "host:65536", "host:+1", ":9000", "9000", "0", "[::1]9000", "[nope]:1",
    "10.0.0.0/8", "10.1.2.3/8", "::1/128", "fe80::/10", "::ffff:1.2.3.4/120",
    "1.2.3.4/33", "1.2.3.4", "5", "0.5", "250ms", "1.5s", "2m", "1h 30m", "1h30m",
    "3 days", "1.2.3s", "µs", "1e3s", "99999999999999999999999h",
]):
    put("cli_values", f"seed-{i:02}", s)

# ---- pcap: the test fixtures, truncations of them, other link layers ----
fixtures = ["modbus.pcap", "modbus-2flows.pcapng", "modbus-reassembly.pcap"]
for name in fixtures:
    data = open(os.path.join(FIXTURES, name), "rb").read()
    put("pcap", name, data)
    # Cut in the file header, in the first record header, in the first
    # packet's data, and one byte short of the end.
    for cut in (3, 20, 30, 24 + 16 + 40, len(data) - 1):
        put("pcap", f"{name}.cut{cut}", data[:cut])


def ipv4(proto, payload, src=(127, 0, 0, 1), dst=(127, 0, 0, 1), frag=0):
    return struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, frag, 64,
                       proto, 0, bytes(src), bytes(dst)) + payload


def ipv6(nh, payload):
    return (struct.pack(">IHBB", 6 << 28, len(payload), nh, 64)
            + bytes(15) + b"\x01" + bytes(15) + b"\x01" + payload)


def tcp(sport, dport, seq, flags, payload=b"", ack=0):
    return struct.pack(">HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags,
                       65535, 0, 0) + payload


def udp(sport, dport, payload):
    return struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload


SYN, ACK, PSH, FIN, RST = 0x02, 0x10, 0x08, 0x01, 0x04
conversation = [
    tcp(40000, 502, 100, SYN),
    tcp(502, 40000, 700, SYN | ACK, ack=101),
    tcp(40000, 502, 101, PSH | ACK, b"\x00\x01\x00\x00\x00\x06\x01\x03", ack=701),
    tcp(40000, 502, 109, PSH | ACK, b"\x00\x00\x00\x02", ack=701),
    tcp(502, 40000, 701, PSH | ACK, b"\x00\x01\x00\x00\x00\x07\x01\x03\x04\x00\x0a\x00\x0b", ack=113),
    tcp(40000, 502, 113, FIN | ACK, ack=714),
    tcp(502, 40000, 714, RST),
]


def pcap(linktype, packets, magic=0xA1B2C3D4, endian="<"):
    out = struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)
    for i, p in enumerate(packets):
        out += struct.pack(endian + "IIII", 1_700_000_000 + i, 1000 * i, len(p), len(p)) + p
    return out


ETH = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01"
put("pcap", "eth-ipv4-tcp-ns-be.pcap",
    pcap(1, [ETH + b"\x08\x00" + ipv4(6, s) for s in conversation], magic=0xA1B23C4D, endian=">"))
put("pcap", "eth-vlan-ipv6-udp.pcap",
    pcap(1, [ETH + b"\x81\x00\x00\x05\x86\xdd" + ipv6(17, udp(5353, 53, b"q")),
             ETH + b"\x86\xdd" + ipv6(17, udp(53, 5353, b"")),
             ETH + b"\x08\x06" + bytes(28)]))
sll = lambda proto: struct.pack(">HHH8sH", 0, 772, 6, bytes(8), proto)
put("pcap", "sll-tcp-ipv4-frag.pcap",
    pcap(113, [sll(0x0800) + ipv4(6, s) for s in conversation[:3]]
         + [sll(0x0800) + ipv4(17, udp(1, 2, b"xx"), frag=0x2000)]))
sll2 = lambda proto: struct.pack(">HHIHBB8s", proto, 0, 1, 772, 0, 6, bytes(8))
put("pcap", "sll2-icmp-udp.pcap",
    pcap(276, [sll2(0x0800) + ipv4(1, b"\x08\x00" + bytes(6)),
               sll2(0x0800) + ipv4(17, udp(1000, 2000, b"ping"))]))
put("pcap", "raw-ipv4-tcp-midstream.pcap",
    pcap(101, [ipv4(6, s) for s in conversation[2:5]]))
put("pcap", "null-ipv6-tcp.pcap",
    pcap(0, [struct.pack("<I", 30) + ipv6(6, s) for s in conversation[:3]]))
put("pcap", "loop-ipv4-udp.pcap", pcap(108, [struct.pack(">I", 2) + ipv4(17, udp(7, 7, b"echo"))]))
put("pcap", "unsupported-link.pcap", pcap(147, [b"\x00"]))


def block(btype, body, endian="<"):
    body += bytes(-len(body) % 4)
    n = 12 + len(body)
    return struct.pack(endian + "II", btype, n) + body + struct.pack(endian + "I", n)


def pcapng(endian, linktype, packets, tsresol=None, simple=False):
    out = block(0x0A0D0D0A, struct.pack(endian + "IHHq", 0x1A2B3C4D, 1, 0, -1), endian)
    opts = b""
    if tsresol is not None:
        opts = struct.pack(endian + "HH", 9, 1) + bytes([tsresol]) + bytes(3) + bytes(4)
    out += block(1, struct.pack(endian + "HHI", linktype, 0, 65535) + opts, endian)
    for i, p in enumerate(packets):
        if simple:
            out += block(3, struct.pack(endian + "I", len(p)) + p, endian)
        else:
            ts = 1_700_000_000_000 + i
            out += block(6, struct.pack(endian + "IIIII", 0, ts >> 32, ts & 0xFFFFFFFF,
                                        len(p), len(p)) + p, endian)
    return out


put("pcap", "be-ms-tsresol.pcapng",
    pcapng(">", 101, [ipv4(6, s) for s in conversation], tsresol=3))
put("pcap", "le-simple-blocks.pcapng",
    pcapng("<", 1, [ETH + b"\x08\x00" + ipv4(17, udp(9, 10, b"spb"))], simple=True))
