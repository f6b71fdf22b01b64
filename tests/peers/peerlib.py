"""What the test peers in this folder share: listening, accepting, logging,
reading with a deadline, and the command-line options they have in common.

The contract with the Rust fixtures (`PyServer` in tests/it/util/mod.rs):
a server binds port 0 and prints the port the kernel chose as its first
stdout line, a bare number, flushed; everything after it is the server's
log. Every wait is bounded (socket timeouts, --timeout, --lifetime), so no
peer can hang a test run.

Peers import this as `import peerlib`: Python puts the directory of the
script it runs first on sys.path, so `python3 tests/peers/X.py` works from
any working directory.
"""
import argparse
import socket
import threading
import time

_log_lock = threading.Lock()


def log(line):
    """Print one whole line on stdout, flushed, even from several threads."""
    with _log_lock:
        print(line, flush=True)


def family(host):
    """AF_INET6 for an IPv6 address (it has a colon), else AF_INET."""
    return socket.AF_INET6 if ":" in host else socket.AF_INET


# --- options -----------------------------------------------------------------


def client_args(parser, timeout=None):
    """--host (default 127.0.0.1), --port (required) and, when `timeout` is
    given, --timeout in seconds with that default."""
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    if timeout is not None:
        parser.add_argument("--timeout", type=float, default=timeout)
    return parser


def server_args(parser, lifetime=120.0, timeout=None):
    """--lifetime in seconds (the whole server) and, when `timeout` is
    given, --timeout in seconds (each connection's socket)."""
    if timeout is not None:
        parser.add_argument("--timeout", type=float, default=timeout)
    parser.add_argument("--lifetime", type=float, default=lifetime)
    return parser


# --- servers -----------------------------------------------------------------


def listen(host="127.0.0.1", backlog=16, reuseaddr=False):
    """A TCP socket listening on HOST port 0 whose port has been printed as
    the first stdout line. accept() on it times out every 0.5 s, so
    `serve` can check the lifetime."""
    srv = socket.socket(family(host), socket.SOCK_STREAM)
    if reuseaddr:
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, 0))
    srv.listen(backlog)
    srv.settimeout(0.5)
    print(srv.getsockname()[1], flush=True)
    return srv


def serve(srv, lifetime, handle, threaded=True):
    """Accept connections for `lifetime` seconds and hand each to
    handle(conn): on its own daemon thread, or (threaded=False) one at a
    time on this one."""
    end = time.monotonic() + lifetime
    while time.monotonic() < end:
        try:
            conn, _ = srv.accept()
        except socket.timeout:
            continue
        if threaded:
            threading.Thread(target=handle, args=(conn,), daemon=True).start()
        else:
            handle(conn)


# --- clients -----------------------------------------------------------------


def recv_until(s, deadline, want=0):
    """Read from `s` until `want` bytes arrived (0: no limit), the peer
    closed, the connection was reset, or time.monotonic() reached
    `deadline`. Returns (data, end), end being count, eof, reset or
    timeout."""
    got = b""
    while True:
        if want and len(got) >= want:
            return got, "count"
        left = deadline - time.monotonic()
        if left <= 0:
            return got, "timeout"
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            return got, "timeout"
        except ConnectionResetError:
            return got, "reset"
        if not chunk:
            return got, "eof"
        got += chunk
