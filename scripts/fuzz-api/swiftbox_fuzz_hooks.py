"""Schemathesis hooks of scripts/fuzz-api.sh (loaded through SCHEMATHESIS_HOOKS).

Authentication: every request carries the administrator's bearer token that the script got
from POST /api/auth/login/, so the fuzzer reaches every operation, administrators-only ones
included. The token comes in through the environment (SWIFTBOX_FUZZ_TOKEN), never on a
command line, and schemathesis masks the Authorization header in what it prints
(--sanitize-output).
"""

import json
import os
import urllib.request

import schemathesis
from hypothesis import strategies as st


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


# --- ids that exist -------------------------------------------------------------------
#
# Generated ids are random UUIDs, which name nothing: every `/api/products/{id}/` operation
# would only ever answer 404, and every body naming a category or a product 422, so the
# success paths (an order placed, a product changed, a review written) and their answers'
# schemas would go unchecked. So half of the generated cases get, in place of a generated id,
# one of the service's live ids (read from its public lists, once per operation);
# the other half keep the generated value.

def _live_ids(path):
    """The ids of the first page of the public list at `path` ([] if it cannot be read)."""
    base = os.environ.get("SWIFTBOX_FUZZ_URL")
    if not base:
        return []
    try:
        with urllib.request.urlopen(f"{base}{path}?limit=200", timeout=30) as answer:
            return [item["id"] for item in json.load(answer)["items"]]
    except Exception:  # the fuzzing goes on with generated ids; a broken list fails elsewhere
        return []


# Which list a field's id comes from.
_ID_SOURCES = {
    "category": "/api/categories/",
    "parent": "/api/categories/",
    "product": "/api/products/",
}


def _with_live_ids(value, rnd, ids):
    """`value` with each string under a key of _ID_SOURCES replaced by a live id of its kind."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            source = _ID_SOURCES.get(key)
            if source and isinstance(item, str) and ids(source):
                out[key] = rnd.choice(ids(source))
            else:
                out[key] = _with_live_ids(item, rnd, ids)
        return out
    if isinstance(value, list):
        return [_with_live_ids(item, rnd, ids) for item in value]
    return value


# The live ids, read once per operation and source: generation must be deterministic (a list
# that changed between two draws, products deleted meanwhile, makes Hypothesis stop the
# operation as "flaky" after a few cases, reported without failing the run).
_LIVE = {}


def _half_live(context, value, substitute):
    operation = context.operation.verbose_name

    def ids(source):
        key = (operation, source)
        if key not in _LIVE:
            _LIVE[key] = _live_ids(source)
        return _LIVE[key]

    return st.one_of(st.just(value), st.randoms(use_true_random=False).map(lambda rnd: substitute(rnd, ids)))


@schemathesis.hook
def flatmap_path_parameters(context, path_parameters):
    if not isinstance(path_parameters, dict) or not isinstance(path_parameters.get("id"), str):
        return st.just(path_parameters)
    if not context.operation.path.startswith("/api/products/"):
        return st.just(path_parameters)
    return _half_live(
        context,
        path_parameters,
        lambda rnd, ids: {**path_parameters, "id": rnd.choice(ids("/api/products/"))}
        if ids("/api/products/")
        else path_parameters,
    )


@schemathesis.hook
def flatmap_body(context, body):
    return _half_live(context, body, lambda rnd, ids: _with_live_ids(body, rnd, ids))


@schemathesis.hook
def flatmap_query(context, query):
    return _half_live(context, query, lambda rnd, ids: _with_live_ids(query, rnd, ids))
