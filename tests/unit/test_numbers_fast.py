"""numbers.type_and_region gives exactly phonenumbers' number_type and region.

It replaces three passes of phonenumbers over a shared country code's regions with one
(the call path's largest phonenumbers cost), so it must agree with phonenumbers on every
region's example numbers of every type, and on arbitrary digits."""

from __future__ import annotations

import phonenumbers
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberType

from callshield.read.numbers import type_and_region


def _expected(p: phonenumbers.PhoneNumber) -> tuple[PhoneNumberType, str]:
    ntype = phonenumbers.number_type(p)
    if ntype == PhoneNumberType.UNKNOWN:
        return ntype, ""
    region = phonenumbers.region_code_for_number(p) or ""
    return ntype, "" if region == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY else region


def _examples() -> list[phonenumbers.PhoneNumber]:
    out = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for ntype in PhoneNumberType.values():
            example = phonenumbers.example_number_for_type(region, ntype)
            if example is not None:
                out.append(example)
    for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        example = phonenumbers.example_number_for_non_geo_entity(code)
        if example is not None:
            out.append(example)
    return out


def test_every_regions_example_numbers_are_typed_and_located_as_phonenumbers_does() -> None:
    examples = _examples()
    assert len(examples) > 1000
    wrong = [(phonenumbers.format_number(p, phonenumbers.PhoneNumberFormat.E164), type_and_region(p), _expected(p))
             for p in examples if type_and_region(p) != _expected(p)]
    assert wrong == []


def test_an_example_changed_in_its_last_digits_is_typed_and_located_as_phonenumbers_does() -> None:
    """Near-valid numbers of shared country codes: the same national number in another region's range."""
    for p in _examples():
        for last in ("0", "5", "9"):
            q = phonenumbers.PhoneNumber(country_code=p.country_code, national_number=int(str(p.national_number)[:-1] + last))
            assert type_and_region(q) == _expected(q), phonenumbers.format_number(q, phonenumbers.PhoneNumberFormat.E164)


@settings(max_examples=400, deadline=None)
@given(code=st.sampled_from(sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)), national=st.integers(min_value=0, max_value=10**14))
def test_arbitrary_numbers_are_typed_and_located_as_phonenumbers_does(code: int, national: int) -> None:
    p = phonenumbers.PhoneNumber(country_code=code, national_number=national)
    assert type_and_region(p) == _expected(p)
