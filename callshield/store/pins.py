"""PINs for invoking dial plans and personal overrides by phone: checked for shape,
stored only as salted PBKDF2 hashes, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from callshield.errors import PinError

ITERATIONS = 120_000
PIN_RE = re.compile(r"[0-9]{4,12}")


def check_pin_shape(pin: str) -> None:
    if not PIN_RE.fullmatch(pin or ""):
        raise PinError("a PIN is 4 to 12 digits (it is keyed on a telephone)")


def hash_pin(pin: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    check_pin_shape(pin)
    salt = secrets.token_bytes(16) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, iterations)
    return f"pbkdf2_sha256${iterations}${salt.hex()}${digest.hex()}"


def verify_pin(pin: str, stored: str | None) -> bool:
    """True when ``pin`` matches the stored hash. Takes the same time when nothing is
    stored (unknown staff number) as when the PIN is wrong."""
    try:
        scheme, iterations, salt, digest = (stored or "").split("$")
        if scheme != "pbkdf2_sha256":
            raise ValueError(scheme)
        rounds, salt_b, want = int(iterations), bytes.fromhex(salt), bytes.fromhex(digest)
    except ValueError:
        rounds, salt_b, want, stored = ITERATIONS, b"\0" * 16, b"", None
    got = hashlib.pbkdf2_hmac("sha256", (pin or "").encode(), salt_b, rounds)
    return stored is not None and PIN_RE.fullmatch(pin or "") is not None and hmac.compare_digest(got, want)
