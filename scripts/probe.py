#!/usr/bin/env python3
"""Protocol-level readiness probes used by scripts/servers.sh.

    probe.py mongo URI   -> sends a real OP_MSG {ping: 1} and checks ok: 1
    probe.py bolt URI    -> performs the Bolt handshake and checks a version is agreed

Exit status 0 when the server answered correctly, 1 otherwise (reason on stderr).
Standard library only, so it runs before anything else is installed.
"""
import socket
import struct
import sys
from urllib.parse import urlparse

TIMEOUT = 3.0


def host_port(uri, default_port):
    u = urlparse(uri)
    return u.hostname or "127.0.0.1", u.port or default_port


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def bson_doc(pairs):
    """Encodes a flat document of int32 and string values."""
    body = b""
    for key, value in pairs:
        k = key.encode() + b"\x00"
        if isinstance(value, int):
            body += b"\x10" + k + struct.pack("<i", value)
        else:
            v = value.encode() + b"\x00"
            body += b"\x02" + k + struct.pack("<i", len(v)) + v
    return struct.pack("<i", len(body) + 5) + body + b"\x00"


def probe_mongo(uri):
    host, port = host_port(uri, 27017)
    doc = bson_doc([("ping", 1), ("$db", "admin")])
    payload = struct.pack("<I", 0) + b"\x00" + doc  # flagBits, section kind 0
    header = struct.pack("<iiii", 16 + len(payload), 1, 0, 2013)  # OP_MSG
    with socket.create_connection((host, port), timeout=TIMEOUT) as s:
        s.sendall(header + payload)
        length, _, _, opcode = struct.unpack("<iiii", recv_exact(s, 16))
        reply = recv_exact(s, length - 16)
    if opcode != 2013:
        raise ValueError("unexpected reply opcode %d" % opcode)
    # {ok: 1.0} is a double (type 0x01) named "ok".
    if b"\x01ok\x00" + struct.pack("<d", 1.0) not in reply:
        raise ValueError("ping reply lacks ok: 1: %r" % reply[:200])


def probe_bolt(uri):
    host, port = host_port(uri, 7687)
    # Magic preamble, then four proposals: 5.0-5.4, 4.4, 4.3, 4.2 ([0, range, minor, major]).
    hello = bytes.fromhex("6060B017" "00040405" "00000404" "00000304" "00000204")
    with socket.create_connection((host, port), timeout=TIMEOUT) as s:
        s.sendall(hello)
        agreed = recv_exact(s, 4)
    if agreed == b"\x00\x00\x00\x00":
        raise ValueError("server agreed on no Bolt version")


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("mongo", "bolt"):
        print(__doc__, file=sys.stderr)
        return 2
    kind, uri = sys.argv[1], sys.argv[2]
    try:
        (probe_mongo if kind == "mongo" else probe_bolt)(uri)
    except (OSError, ValueError) as e:
        print("%s probe of %s failed: %s" % (kind, uri, e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
