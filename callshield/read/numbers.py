"""Number intelligence through phonenumbers: normalise, validate, locate a number.

``NumberIntel`` caches per instance (one per process, built at start-up), so the call
path pays the ~13 µs parse once per distinct number.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType, re_util
from phonenumbers.phonenumberutil import _number_type_helper  # phonenumbers' own typing step (see type_and_region)

from callshield.config import Config
from callshield.errors import ConfigError, NumberError

CACHE_SIZE = 65536
# Longer than any phone number however written: invalid without asking phonenumbers
# (callers pass sipheaders.number_of's digits, at most 25 characters).
MAX_NUMBER_CHARS = 64
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


def type_and_region(p: phonenumbers.PhoneNumber) -> tuple[PhoneNumberType, str]:
    """``phonenumbers.number_type(p)`` and the region of a valid number ("" for none or a
    non-geographic one) in one pass: exactly phonenumbers' rules, without their repeats.

    For a country code shared by several regions (+1, +44, +7, ...) phonenumbers finds the
    region by testing the number against each region's patterns, then tests it again to
    type it, and ``region_code_for_number`` repeats the search: three passes for a
    first-seen number, most of its cost. Here the pass that finds the region also types
    the number. ``tests/unit/test_numbers_fast.py`` checks both answers against
    phonenumbers for example numbers of every region and type and for random digits.
    """
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(p.country_code, ())
    if len(regions) <= 1:
        ntype = phonenumbers.number_type(p)
        region = regions[0] if regions and regions[0] != phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY else ""
        return ntype, region if ntype != PhoneNumberType.UNKNOWN else ""
    national = phonenumbers.national_significant_number(p)
    for region in regions:
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region.upper(), None)
        if metadata is None:
            continue
        if metadata.leading_digits is not None:
            if re_util.re_compile(metadata.leading_digits).match(national):
                ntype = _number_type_helper(national, metadata)
                return ntype, region if ntype != PhoneNumberType.UNKNOWN else ""
        else:
            ntype = _number_type_helper(national, metadata)
            if ntype != PhoneNumberType.UNKNOWN:
                return ntype, region
    return PhoneNumberType.UNKNOWN, ""


_DESCS = ("general_desc", "fixed_line", "mobile", "toll_free", "premium_rate", "shared_cost", "personal_number", "voip",
          "pager", "uan", "voicemail", "no_international_dialling")


@functools.cache
def warm_all_regions() -> int:
    """Load every region's metadata and compile its patterns, once per process.

    phonenumbers loads a region's metadata the first time a number from it is seen
    (up to 2.5 ms) and compiles its patterns through the re module's 512-entry cache,
    so callers rotating numbers over many countries would pay milliseconds on the call
    path, again and again. Kept compiled for good (phonenumbers' own pattern cache),
    all of it costs 0.2-0.3 s and about 3 MB at start. Process-wide because phonenumbers'
    caches are. Returns the number of patterns compiled.
    """
    enable = getattr(re_util, "enable_pattern_cache", None)
    if enable is None:  # an older phonenumbers: metadata only
        enable = lambda: None  # noqa: E731
    enable()
    compiled = 0
    for code, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items():
        for region in regions:
            metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(code, region)
            if metadata is None:
                continue
            descs = (getattr(metadata, name, None) for name in _DESCS)
            for pattern in (*(d.national_number_pattern for d in descs if d is not None), metadata.national_prefix_for_parsing,
                            metadata.international_prefix, metadata.leading_digits):
                if pattern:
                    re_util.re_compile(pattern)
                    compiled += 1
    return compiled


class NumberIntel:
    def __init__(self, home_country: str):
        self.home_country = home_country.upper()
        self.info = functools.lru_cache(maxsize=CACHE_SIZE)(self._info)
        warm_all_regions()  # no first-seen country costs a call milliseconds
        example = phonenumbers.example_number(self.home_country)
        if example is not None:
            self._info(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164))

    def typed_key(self, text: str, region: str | None = None) -> str:
        """typed_key(self, text, region): the E.164 key of a number an operator typed. The
        store normalises typed numbers through this method of the NumberIntel its caller
        passes in, so it needs no import of this module."""
        return typed_key(self, text, region)

    def _info(self, raw: str, region: str | None = None) -> NumberInfo:
        """Parse ``raw`` as dialled from ``region`` (default: the home country)."""
        digits = raw.strip()
        if not digits or len(digits) > MAX_NUMBER_CHARS or not any(c.isdigit() for c in digits):
            return NumberInfo(raw, "", "", False, "N/A")
        region = region or self.home_country
        candidates = [digits]
        if digits.startswith("00"):
            candidates = ["+" + digits[2:], digits]
        elif not digits.startswith(("+", "0")) and len(digits) > 9:
            candidates = [digits, "+" + digits]  # carriers often send E.164 without the '+'
        best: phonenumbers.PhoneNumber | None = None
        best_type = PhoneNumberType.UNKNOWN
        best_region = ""
        for candidate in candidates:
            try:
                parsed = phonenumbers.parse(candidate, region)
            except phonenumbers.NumberParseException:
                continue
            # number_type() is UNKNOWN exactly when is_valid_number() is false; asking
            # once instead of both halves the cost of a first-seen number.
            ntype, found = type_and_region(parsed)
            if ntype != PhoneNumberType.UNKNOWN:
                best, best_type, best_region = parsed, ntype, found
                break
            best = best or parsed
        if best is None:
            return NumberInfo(raw, "", "", False, "N/A")
        valid = best_type != PhoneNumberType.UNKNOWN
        e164 = phonenumbers.format_number(best, phonenumbers.PhoneNumberFormat.E164)
        if valid:
            number_region = best_region
        else:
            number_region = phonenumbers.region_code_for_country_code(best.country_code)
            number_region = "" if number_region == phonenumbers.UNKNOWN_REGION else number_region
        return NumberInfo(raw, e164, number_region, valid, _LINE_TYPES.get(best_type, "N/A") if valid else "N/A")


# -- numbers an operator types ----------------------------------------------------------

E164_MAX_DIGITS = 15  # ITU-T E.164: country code and national number, at most 15 digits
_TYPED_RE = re.compile(r"\+?[0-9]+")


def typed_key(intel: NumberIntel, text: str, region: str | None = None) -> str:
    """The E.164 key of a phone number as an operator typed it (a CLI argument, a CSV
    cell, a routing.numbers key): digits with an optional leading + (spaces and hyphens
    ignored), at least 2 and at most 15 digits after an international prefix 00, and at
    most 15 digits once normalised. The one check every typed number goes through;
    NumberError says what is wrong."""
    cleaned = (text or "").replace(" ", "").replace("-", "")
    if not _TYPED_RE.fullmatch(cleaned) or len(cleaned.lstrip("+")) < 2:
        raise NumberError(f"{_shown(text)} is not a phone number (digits with an optional leading +, e.g. +442071234567)")
    digits = cleaned.lstrip("+")
    if digits.startswith("00"):
        digits = digits[2:]  # the international prefix is not part of the number
    if len(digits) > E164_MAX_DIGITS:
        raise NumberError(f"{_shown(text)} is not a phone number: {len(digits)} digits,"
                          f" and E.164 numbers have at most {E164_MAX_DIGITS}")
    key = intel.info(cleaned, region).key
    if len(key.lstrip("+")) > E164_MAX_DIGITS:
        raise NumberError(f"{_shown(text)} is not a phone number: {key} has {len(key.lstrip('+'))} digits,"
                          f" and E.164 numbers have at most {E164_MAX_DIGITS}")
    return key


def _shown(text: str, limit: int = 40) -> str:
    """``text`` quoted for an error message; a long one cut, with its length."""
    text = text or ""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text)} characters)"


def check_routing_numbers(config: Config) -> None:
    """Every routing.numbers key is a number an operator may type (typed_key) and no two are
    the same number; ConfigError naming the key otherwise. config.py cannot check this itself
    (the foundation imports nothing above it), so the CLI calls this after load_config."""
    if not config.routing.numbers:
        return
    intel = NumberIntel(config.scoring.home_country)
    seen: dict[str, str] = {}
    for number in config.routing.numbers:
        try:
            key = typed_key(intel, number)
        except NumberError as exc:
            raise ConfigError(f"routing.numbers.{number}", str(exc)) from None
        if key in seen:
            raise ConfigError(f"routing.numbers.{number}", f"is the same number as '{seen[key]}' ({key}); keep one entry")
        seen[key] = number
