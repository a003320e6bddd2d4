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


def _region(p: phonenumbers.PhoneNumber) -> str:
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(p.country_code, ())
    if len(regions) == 1:  # most countries: no need to test the number against each region
        return "" if regions[0] == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY else regions[0]
    return phonenumbers.region_code_for_number(p) or ""


def _number_type(p: phonenumbers.PhoneNumber) -> PhoneNumberType:
    """phonenumbers.number_type without its second pass over a shared country code's
    regions: for +1 and +44 that pass is most of the cost of a first-seen number."""
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(p.country_code, ())
    if len(regions) <= 1:
        return phonenumbers.number_type(p)
    region = phonenumbers.region_code_for_number(p)
    if region is None:
        return PhoneNumberType.UNKNOWN
    metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(p.country_code, region)
    if metadata is None:
        return PhoneNumberType.UNKNOWN
    helper = getattr(phonenumbers.phonenumberutil, "_number_type_helper", None)
    if helper is None:  # a phonenumbers without the helper: the public, slower way
        return phonenumbers.number_type(p)
    return helper(phonenumbers.national_significant_number(p), metadata)


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
        best_type = PhoneNumberType.UNKNOWN
        for candidate in candidates:
            try:
                parsed = phonenumbers.parse(candidate, region)
            except phonenumbers.NumberParseException:
                continue
            # number_type() is UNKNOWN exactly when is_valid_number() is false; asking
            # once instead of both halves the cost of a first-seen number.
            ntype = _number_type(parsed)
            if ntype != PhoneNumberType.UNKNOWN:
                best, best_type = parsed, ntype
                break
            best = best or parsed
        if best is None:
            return NumberInfo(raw, "", "", False, "N/A")
        valid = best_type != PhoneNumberType.UNKNOWN
        e164 = phonenumbers.format_number(best, phonenumbers.PhoneNumberFormat.E164)
        if valid:
            number_region = _region(best)
        else:
            number_region = phonenumbers.region_code_for_country_code(best.country_code)
            number_region = "" if number_region == phonenumbers.UNKNOWN_REGION else number_region
        return NumberInfo(raw, e164, number_region, valid, _LINE_TYPES.get(best_type, "N/A") if valid else "N/A")
