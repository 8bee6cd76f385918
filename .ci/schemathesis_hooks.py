"""schemathesis hooks for .ci/schemathesis: two facts JSON Schema cannot state.

An Idempotency-Key names one request: the server answers a second, different
request under the same key with 422 idempotency_key_reused, as the IETF
Idempotency-Key draft says it should. JSON Schema cannot say "one key, one
request", so the fuzzer draws the same few keys ("0", "A") for many different
bodies and reads the refusals as valid input rejected. Each valid generated key
gets a serial-number suffix, staying valid (visible ASCII, at most 255); invalid
keys are sent as generated, so the server's refusal of them is still tested.
"""

import itertools
import re

import schemathesis

_VALID = re.compile(r"[!-~]{1,255}")
_serial = itertools.count()


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    headers = case.headers or {}
    key = headers.get("Idempotency-Key")
    if isinstance(key, str) and _VALID.fullmatch(key):
        suffix = f".{next(_serial)}"
        headers["Idempotency-Key"] = key[: 255 - len(suffix)] + suffix
    _to_the_past(case.body)


# A regulatory claim or filing refers to something that already happened: the
# server refuses a time still to come (422, naming the field), which JSON
# Schema cannot say of a date-time. Generated times in the future are moved
# back a year before now, staying valid date-times; malformed ones are sent as
# generated, so the server's refusal of them is still tested.
_PAST_FIELDS = ("claimed_at", "submitted_at")


def _to_the_past(body):
    from datetime import datetime, timedelta, timezone

    if not isinstance(body, dict):
        return
    now = datetime.now(timezone.utc)
    for field in _PAST_FIELDS:
        value = body.get(field)
        if not isinstance(value, str):
            continue
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            continue
        if when.tzinfo is not None and when > now:
            body[field] = (now - timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%SZ")
