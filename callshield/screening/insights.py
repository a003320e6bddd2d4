"""Phone insights: the "Validate phone" variables contact-centre flows route on.

Offline by default: number facts from phonenumbers (validity, line type, country and the
*original* carrier of the range: ported numbers keep the range holder's name), Do-Not-
Call from an importable list (US and CA only, as the convention says), recent abuse
from our own lists and confirmed outcomes. Active and PrePaid need a live lookup and are
"N/A" unless a lookup provider answers within its time budget (callshield.models.lookup).

Values are the strings the convention uses: "true" / "false" / "N/A".
"""

from __future__ import annotations

from dataclasses import dataclass

from phonenumbers import carrier as pn_carrier
import phonenumbers

from callshield.dialplan import variables as dv
from callshield.read.numbers import NumberInfo

DNC_REGIONS = frozenset({"US", "CA"})
# phonenumbers' line types as the convention names them; "Landline-or-Wireless" (US
# geographic ranges) is honestly unknown.
LINE_TYPE = {
    "Landline": "Landline",
    "Wireless": "Wireless",
    "Toll-Free": "Toll-Free",
    "Premium Rate": "Premium Rate",
    "VOIP": "VOIP",
    "Pager": "Pager",
}


@dataclass(frozen=True)
class Insights:
    voip: str
    risky: str
    valid: str
    active: str
    status: str
    carrier: str
    country: str
    prepaid: str
    line_type: str
    do_not_call: str
    fraud_score: int
    recent_abuse: str

    def channel_variables(self) -> dict[str, str]:
        return {
            dv.PHONE_VOIP: self.voip,
            dv.PHONE_RISKY: self.risky,
            dv.PHONE_VALID: self.valid,
            dv.PHONE_ACTIVE: self.active,
            dv.PHONE_STATUS: self.status,
            dv.PHONE_CARRIER: self.carrier,
            dv.PHONE_COUNTRY: self.country,
            dv.PHONE_PREPAID: self.prepaid,
            dv.PHONE_LINE_TYPE: self.line_type,
            dv.PHONE_DNC: self.do_not_call,
            dv.PHONE_FRAUD_SCORE: str(self.fraud_score),
            dv.PHONE_RECENT_ABUSE: self.recent_abuse,
        }


def _tf(value: bool) -> str:
    return "true" if value else "false"


def _from_e164(e164: str) -> phonenumbers.PhoneNumber | None:
    """An E.164 string back into a PhoneNumber without a full parse."""
    for n in (1, 2, 3):
        cc = e164[1 : 1 + n]
        if cc.isdigit() and int(cc) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            national = e164[1 + n :]
            italian_zero = national.startswith("0")
            return phonenumbers.PhoneNumber(country_code=int(cc), national_number=int(national or "0"), italian_leading_zero=italian_zero or None)
    return None


def carrier_name(info: NumberInfo) -> str:
    """The range holder of a valid number (a prefix lookup: the number is known valid)."""
    if not info.valid or not info.e164:
        return "N/A"
    number = _from_e164(info.e164)
    if number is None:
        return "N/A"
    name = pn_carrier.name_for_valid_number(number, "en")
    # Not for MSet (agi/encode.py carries commas): the dialplan copies PHONE_CARRIER into the
    # X-CallShield-Phone header, where a comma would separate two header values.
    return name.replace(",", " ").strip() or "N/A"


def insights(
    caller: NumberInfo | None,
    *,
    carrier: str,
    score: int,
    status: str,
    suspicious_at: int,
    dnc: frozenset[str],
    recent_abuse: bool | None,
    active: str = "N/A",
    prepaid: str = "N/A",
) -> Insights:
    """Insights of the caller's number (``caller`` None: withheld with no number known)."""
    if caller is None:
        return Insights("N/A", _tf(score >= suspicious_at), "false", active, status, "N/A", "N/A", prepaid, "N/A", "N/A", score, "N/A")
    line = LINE_TYPE.get(caller.line_type, "N/A") if caller.valid else "N/A"
    voip = "N/A" if not caller.valid or caller.line_type in ("Landline-or-Wireless", "N/A") else _tf(line == "VOIP")
    dnc_value = _tf(caller.key in dnc) if caller.region in DNC_REGIONS else "N/A"
    return Insights(
        voip=voip,
        risky=_tf(score >= suspicious_at),
        valid=_tf(caller.valid),
        active=active,
        status=status,
        carrier=carrier,
        country=caller.region or "N/A",
        prepaid=prepaid,
        line_type=line,
        do_not_call=dnc_value,
        fraud_score=score,
        recent_abuse="N/A" if recent_abuse is None else _tf(recent_abuse),
    )
