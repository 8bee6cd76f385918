"""schemathesis hooks for .ci/schemathesis.

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
