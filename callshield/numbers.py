"""Number intelligence through phonenumbers: normalise, validate, locate a number.

``NumberIntel`` caches per instance (one per process, built at start-up), so the call
path pays the ~13 µs parse once per distinct number.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType

CACHE_SIZE = 65536
_LINE_TYPES = {
    PhoneNumberType.FIXED_LINE: "Landline",
    PhoneNumberType.MOBILE: "Wireless",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "Landline-or-Wireless",
    PhoneNumberType.TOLL_FREE: "Toll-Free",
    PhoneNumberType.PREMIUM_RATE: "Premium Rate",
    PhoneNumberType.SHARED_COST: "Shared Cost",
    PhoneNumberType.VOIP: "VOIP",
    PhoneNumberType.PERSONAL_NUMBER: "Personal",
    PhoneNumberType.PAGER: "Pager",
    PhoneNumberType.UAN: "UAN",
    PhoneNumberType.VOICEMAIL: "Voicemail",
}


@dataclass(frozen=True)
class NumberInfo:
    raw: str
    e164: str
    region: str
    valid: bool
    line_type: str

    @property
    def key(self) -> str:
        """The identity used for lists and history: E.164 when parseable, else the digits."""
        return self.e164 or self.raw


class NumberIntel:
    def __init__(self, home_country: str):
        self.home_country = home_country.upper()
        self.info = functools.lru_cache(maxsize=CACHE_SIZE)(self._info)
        # Load the home region's metadata now, not on the first call.
        example = phonenumbers.example_number(self.home_country)
        if example is not None:
            self._info(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164))

    def _info(self, raw: str, region: str | None = None) -> NumberInfo:
        """Parse ``raw`` as dialled from ``region`` (default: the home country)."""
        digits = raw.strip()
        if not digits or not any(c.isdigit() for c in digits):
            return NumberInfo(raw, "", "", False, "N/A")
        region = region or self.home_country
        candidates = [digits]
        if digits.startswith("00"):
            candidates = ["+" + digits[2:], digits]
        elif not digits.startswith(("+", "0")) and len(digits) > 9:
            candidates = [digits, "+" + digits]  # carriers often send E.164 without the '+'
        best: phonenumbers.PhoneNumber | None = None
        for candidate in candidates:
            try:
                parsed = phonenumbers.parse(candidate, region)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(parsed):
                best = parsed
                break
            best = best or parsed
        if best is None:
            return NumberInfo(raw, "", "", False, "N/A")
        valid = phonenumbers.is_valid_number(best)
        e164 = phonenumbers.format_number(best, phonenumbers.PhoneNumberFormat.E164)
        number_region = phonenumbers.region_code_for_number(best) or ""
        line_type = _LINE_TYPES.get(phonenumbers.number_type(best), "N/A") if valid else "N/A"
        return NumberInfo(raw, e164, number_region, valid, line_type)
