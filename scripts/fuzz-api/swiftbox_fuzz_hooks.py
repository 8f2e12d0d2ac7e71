"""Schemathesis hooks of scripts/fuzz-api.sh (loaded through SCHEMATHESIS_HOOKS).

Authentication: every request carries the administrator's bearer token that the script got
from POST /api/auth/login/, so the fuzzer reaches every operation, administrators-only ones
included. The token comes in through the environment (SWIFTBOX_FUZZ_TOKEN), never on a
command line, and schemathesis masks the Authorization header in what it prints
(--sanitize-output).
"""

import os

import schemathesis


@schemathesis.auth(refresh_interval=None)
class SwiftBoxToken:
    """The token the script logged in for, read at each request (nothing to cache). It is not
    refreshed by logging in again: log-ins count against the service's per-client rate limit,
    which the fuzzer spends itself on POST /api/auth/login/; the token outlives the run
    (SWIFTBOX_TOKEN_TTL_SECS, 1 hour)."""

    def get(self, case, context):
        return os.environ["SWIFTBOX_FUZZ_TOKEN"]

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


# RFC 9110, section 5: a field name is a token; a field value is visible ASCII, spaces and tabs,
# and bytes 0x80-0xFF (obs-text; `requests` sends a str value as Latin-1).
_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _is_http_field(name, value):
    if not isinstance(name, str) or not name or any(c not in _TCHAR for c in name):
        return False
    if not isinstance(value, str):
        return True  # not a string: schemathesis serialises it itself
    return all(c == "\t" or " " <= c <= "~" or "\x80" <= c <= "\xff" for c in value)


@schemathesis.hook
def map_headers(context, headers):
    """Drops generated headers that are not HTTP at all.

    Negative data includes header names and values with control characters (`0: "~\\x06"`).
    Such a request is not an HTTP/1.1 message (RFC 9110, 5.5): the service's HTTP parser
    (hyper) answers it 400 with an empty body and closes the connection before the request
    reaches a route, so no operation of any API could document that answer. Schemathesis then
    reports "undocumented status 400", "missing Content-Type" and "not JSON" on every operation:
    false positives about hyper, not about the API. The header is dropped, the rest of the
    case (negative bodies, queries, path ids, other headers) is sent as generated; a negative
    value of a header the API reads (`Idempotency-Key`) that *is* valid HTTP is kept.
    """
    if headers is None:
        return headers
    return {name: value for name, value in headers.items() if _is_http_field(name, value)}
