"""Call DNA features: the signalling and history of one call as named numbers.

``extract`` is pure given its inputs (the signal, the derived facts, what memory
recalls, the lists); every feature is a float, missing values are NaN (LightGBM treats
them as missing). FEATURES documents each one; docs/features.md is generated from it
and a test fails when a feature is undocumented or the extractor and the table differ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Callable
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import timezone as pn_timezone

from callshield.read import sipheaders
from callshield.read.facts import CallFacts
from callshield.models.fingerprint import HostInfo, Profile
from callshield.models.memory import WINDOWS, Recall
from callshield.read.signal import CallSignal

if TYPE_CHECKING:  # screening/ calls the model parts and passes these in: types only, no import at run time
    from callshield.screening.lists import ListSnapshot

NAN = float("nan")
_WIN = ("1m", "10m", "1h", "24h")
_LINE_TYPES = ("Landline", "Wireless", "Landline-or-Wireless", "Toll-Free", "Premium Rate", "Shared Cost", "VOIP", "Personal", "Pager", "UAN", "Voicemail", "N/A")
_UA_FAMILIES = (("sbc", ("sbc", "perimeta", "broadworks", "sonus", "ribbon", "oracle", "acme", "metaswitch", "audiocodes")),
                ("asterisk", ("asterisk",)), ("freeswitch", ("freeswitch", "sofia")), ("3cx", ("3cx",)),
                ("softphone", ("zoiper", "linphone", "microsip", "x-lite", "bria", "eyebeam", "sipdroid", "csipsimple", "telephone")),
                ("script", ("sipp", "pjsua", "sipvicious", "friendly-scanner", "python", "sipcli")))
_CODECS = ("ulaw", "alaw", "g729", "g722", "opus", "gsm", "ilbc")

FEATURES: list[tuple[str, str]] = [
    # presentation and caller ID
    ("withheld", "1 if the caller withheld their number (presentation prohibited, Privacy id/user/header, or an anonymous From)"),
    ("no_caller_id", "1 if the call carries no caller number at all and is not withheld"),
    ("pres_prohib", "1 if CALLERID(pres) is one of the prohib_* values"),
    ("pres_unavailable", "1 if CALLERID(pres) is 'unavailable'"),
    ("pres_screen_passed", "1 if the presentation says the user-provided number passed screening"),
    ("pres_screen_network", "1 if the presentation says the number was provided by the network"),
    ("privacy_id", "1 if the Privacy header holds 'id'"),
    ("privacy_header_or_user", "1 if the Privacy header holds 'header' or 'user'"),
    ("from_anonymous", "1 if the From header is anonymous (anonymous@anonymous.invalid and the like)"),
    ("caller_name_present", "1 if a caller name (display name) is present"),
    ("caller_name_is_number", "1 if the caller name is itself a number"),
    ("caller_name_len", "length of the caller name"),
    # number intelligence
    ("caller_valid", "1 if the caller's number is a valid number (phonenumbers); NaN if there is none"),
    ("caller_country_code", "the caller's country calling code (44, 1, 234...); NaN if unknown"),
    ("caller_international", "1 if the caller's country differs from the dialled number's"),
    ("caller_same_country_code", "1 if the caller and the dialled number share a country calling code"),
    ("caller_digits", "digits in the caller's E.164 number"),
    ("caller_max_digit_run", "longest run of one repeated digit in the caller's number (made-up numbers)"),
    ("caller_is_dialled", "1 if the caller's number equals the dialled number (spoofing the called number)"),
    ("caller_near_dialled", "1 if the caller's number shares all but its last 4 digits with the dialled number (spoofing the organisation's own range)"),
    *((f"line_{t.lower().replace(' ', '_').replace('-', '_').replace('/', '_')}", f"1 if the caller's line type is {t} (phonenumbers, by number range)") for t in _LINE_TYPES),
    # header consistency
    ("from_present", "1 if a From header was read"),
    ("pai_present", "1 if a P-Asserted-Identity header is present"),
    ("pai_valid_number", "1 if the P-Asserted-Identity number is valid; NaN if absent"),
    ("cli_mismatch", "1 if the From number and the P-Asserted-Identity number differ"),
    ("callerid_from_mismatch", "1 if the caller ID Asterisk holds differs from the From number"),
    ("diversion_present", "1 if a Diversion header is present (the call was forwarded)"),
    ("from_host_is_ip", "1 if the From URI host is an IP address"),
    ("from_user_phone", "1 if the From URI has user=phone"),
    ("pai_tel_uri", "1 if P-Asserted-Identity is a tel: URI"),
    ("problems", "count of signalling problems met reading the call (unparseable headers and the like)"),
    # STIR/SHAKEN
    ("identity_present", "1 if an Identity header is present"),
    ("identity_malformed", "1 if the Identity header is present but unreadable"),
    ("attest_a", "1 if the PASSporT attest claim (or verstat suffix) is A"),
    ("attest_b", "1 if the attestation level is B"),
    ("attest_c", "1 if the attestation level is C"),
    ("verstat_present", "1 if a verstat parameter is present in P-Asserted-Identity or From"),
    ("verstat_trusted", "1 if the verstat came from a trusted source (scoring.trust_verstat_from)"),
    ("verified", "1 if ATTESTATION is TN-Validation-Passed-*"),
    ("verification_failed", "1 if a trusted verstat says verification failed"),
    ("orig_tn_matches", "1 if the PASSporT orig.tn equals the caller's number; NaN without a PASSporT"),
    ("dest_tn_matches", "1 if the PASSporT dest.tn includes the dialled number; NaN without a PASSporT"),
    ("iat_age_s", "seconds between the PASSporT iat and the call (clipped to 0..86400); NaN without one"),
    ("iat_future", "1 if the PASSporT iat is more than 60 s in the future"),
    ("ppt_shaken", "1 if the PASSporT extension is 'shaken'"),
    # User-Agent
    ("ua_present", "1 if a User-Agent header is present"),
    ("ua_len", "length of the User-Agent"),
    *((f"ua_{name}", f"1 if the User-Agent looks like a {name} stack") for name, _ in _UA_FAMILIES),
    ("ua_has_version", "1 if the User-Agent carries a version number"),
    # route
    ("via_count", "Via headers read (at most 4)"),
    ("via_private_hops", "Via hops with private (RFC 1918/4193) addresses"),
    ("via_distinct_networks", "distinct /24 networks among the Via hops"),
    ("max_forwards", "the Max-Forwards value (70 minus hops on most stacks); NaN if absent"),
    ("hops", "70 minus Max-Forwards, clipped at 0; NaN if absent"),
    ("source_private", "1 if the SIP source address is private"),
    ("source_port_5060", "1 if the SIP source port is 5060"),
    ("contact_present", "1 if a Contact header was read"),
    ("contact_private", "1 if the Contact host is a private address"),
    ("contact_is_ip", "1 if the Contact host is an IP address"),
    ("contact_tcp_tls", "1 if the Contact asks for TCP or TLS"),
    # header shape and SDP
    ("header_count", "number of distinct header names in the INVITE"),
    ("shape_has_x_headers", "1 if any X- header is present"),
    ("shape_has_session_timer", "1 if Session-Expires is present"),
    ("shape_has_supported", "1 if Supported is present"),
    ("shape_has_allow", "1 if Allow is present"),
    ("shape_has_p_preferred", "1 if P-Preferred-Identity is present"),
    ("shape_from_before_to", "1 if From comes before To in the header order"),
    ("codec_count", "audio formats negotiated from the offer"),
    *((f"codec_{c}", f"1 if {c} was negotiated") for c in _CODECS),
    # time, local to the dialled number
    ("hour", "hour of day (0-23) local to the dialled number"),
    ("hour_sin", "sin of the local hour angle"),
    ("hour_cos", "cos of the local hour angle"),
    ("weekday", "day of week local to the dialled number (Monday = 0)"),
    ("weekend", "1 on Saturday and Sunday"),
    ("business_hours", "1 Monday-Friday 08:00-18:00 local"),
    ("night", "1 between 00:00 and 06:00 local"),
    # velocity (earlier calls in the window)
    *((f"number_calls_{w}", f"earlier calls from this number in {w}") for w in _WIN),
    *((f"number_dialled_calls_{w}", f"earlier calls from this number to this dialled number in {w}") for w in _WIN),
    *((f"profile_calls_{w}", f"earlier calls with this caller profile in {w}") for w in _WIN),
    *((f"profile_dialled_calls_{w}", f"earlier calls with this caller profile to this dialled number in {w}") for w in _WIN),
    *((f"withheld_dialled_calls_{w}", f"earlier withheld calls to this dialled number in {w}") for w in _WIN),
    *((f"dialled_calls_{w}", f"earlier calls to this dialled number in {w}") for w in _WIN),
    *((f"source_calls_{w}", f"earlier calls from this SIP source address in {w}") for w in _WIN),
    ("withheld_share_dialled_1h", "share of this dialled number's calls in the last hour that were withheld"),
    ("number_dialled_numbers_24h", "distinct dialled numbers this caller number called in 24 h"),
    ("profile_dialled_numbers_24h", "distinct dialled numbers this caller profile called in 24 h"),
    ("profile_numbers_24h", "distinct caller numbers this caller profile presented in 24 h (number rotation)"),
    ("number_profiles_24h", "distinct caller profiles presenting this number in 24 h (one number spoofed by many)"),
    ("number_first_seen", "1 if this number has not been seen before (in memory)"),
    ("number_age_log", "log10 of seconds since this number was first seen; NaN if new"),
    ("profile_first_seen", "1 if this caller profile has not been seen before"),
    ("profile_age_log", "log10 of seconds since this caller profile was first seen; NaN if new"),
    ("profile_common", "1 if the route trait is common (carries many numbers) and the profile is anchored to the number"),
    ("profile_anonymous_common", "1 if the profile is 'anonymous via a common route' (cannot be told apart)"),
    ("trait_numbers_24h", "distinct caller numbers seen with this route/device trait in 24 h"),
    # lists and outcomes
    ("allowlisted", "1 if the caller's trusted identity is on the allow list (docs/security.md#which-identities-are-trusted)"),
    ("denylisted", "1 if any number the call presents (caller ID, P-Asserted-Identity, From) is on the deny list"),
    ("number_confirmed_fraud", "earlier calls from this number confirmed as fraud"),
    ("number_confirmed_genuine", "earlier calls from this number confirmed as genuine"),
    ("profile_confirmed_fraud", "earlier calls with this caller profile confirmed as fraud"),
    ("profile_confirmed_genuine", "earlier calls with this caller profile confirmed as genuine"),
    ("rule_score", "the transparent rule-based score (0-100) of the call"),
]
FEATURE_NAMES: tuple[str, ...] = tuple(name for name, _ in FEATURES)
_LINE_KEYS = tuple((t, f"line_{t.lower().replace(' ', '_').replace('-', '_').replace('/', '_')}") for t in _LINE_TYPES)
_UA_KEYS = tuple((f"ua_{name}", needles) for name, needles in _UA_FAMILIES)
_CODEC_KEYS = tuple((c, f"codec_{c}") for c in _CODECS)
_VELOCITY_KEYS = tuple(tuple(f"{prefix}_{w}" for w in _WIN) for prefix in (
    "number_calls", "number_dialled_calls", "profile_calls", "profile_dialled_calls", "withheld_dialled_calls", "dialled_calls", "source_calls"))
FEATURE_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}


@dataclass(frozen=True)
class FeatureInput:
    signal: CallSignal
    facts: CallFacts
    recall: Recall
    profile: Profile
    trait_numbers: int
    lists: ListSnapshot
    rule_score: int
    contact: sipheaders.SipAddress | None
    via_hosts: list[str]
    hosts: Callable[[str], HostInfo]  # memoised: fingerprint.HostCache
    ua_family: str
    zone: ZoneInfo


def _b(value: bool) -> float:
    return 1.0 if value else 0.0


def zone_for(e164: str) -> ZoneInfo:
    """The dialled number's time zone (its first one for multi-zone countries); UTC when
    there is no number. Memoised by its caller (CallDNA): dialled numbers repeat."""
    if not e164:
        return ZoneInfo("UTC")
    try:
        zones = pn_timezone.time_zones_for_number(phonenumbers.parse(e164))
        name = zones[0] if zones and zones[0] != "Etc/Unknown" else "UTC"
    except phonenumbers.NumberParseException:
        name = "UTC"
    try:
        return ZoneInfo(name)
    except Exception:  # a zone name the system tz database lacks
        return ZoneInfo("UTC")


def _max_run(digits: str) -> int:
    best = run = 0
    prev = ""
    for c in digits:
        run = run + 1 if c == prev else 1
        prev = c
        best = max(best, run)
    return best


def extract(x: FeatureInput) -> dict[str, float]:
    s, f, r = x.signal, x.facts, x.recall
    out: dict[str, float] = {}
    pres = s.presentation.lower()
    privacy = f.privacy
    from_addr, pai_addr, hosts = f.from_addr, f.pai_addr, x.hosts
    name = s.caller_name.strip()
    out["withheld"] = _b(f.withheld)
    out["no_caller_id"] = _b(f.no_caller_id)
    out["pres_prohib"] = _b(pres.startswith("prohib"))
    out["pres_unavailable"] = _b(pres == "unavailable")
    out["pres_screen_passed"] = _b(pres.endswith("passed_screen"))
    out["pres_screen_network"] = _b(pres.endswith("_network") or pres.endswith("network"))
    out["privacy_id"] = _b("id" in privacy)
    out["privacy_header_or_user"] = _b(bool(privacy & {"header", "user"}))
    out["from_anonymous"] = _b(from_addr is not None and from_addr.is_anonymous)
    out["caller_name_present"] = _b(bool(name) and name.lower() not in ("anonymous", "unknown"))
    out["caller_name_is_number"] = _b(bool(name) and sipheaders.number_of(name) == name.replace(" ", ""))
    out["caller_name_len"] = float(len(name))

    caller = f.caller
    digits = caller.e164.lstrip("+") if caller is not None else ""
    out["caller_valid"] = _b(caller.valid) if caller is not None else NAN
    cc = _country_code(caller.e164) if caller is not None else None
    dcc = _country_code(f.dialled.e164)
    out["caller_country_code"] = float(cc) if cc is not None else NAN
    out["caller_international"] = _b(f.international)
    out["caller_same_country_code"] = _b(cc is not None and cc == dcc)
    out["caller_digits"] = float(len(digits)) if digits else NAN
    out["caller_max_digit_run"] = float(_max_run(digits)) if digits else NAN
    ddi = f.dialled.e164.lstrip("+")
    out["caller_is_dialled"] = _b(bool(digits) and digits == ddi)
    out["caller_near_dialled"] = _b(bool(digits) and len(digits) == len(ddi) and digits != ddi and digits[:-4] == ddi[:-4])
    line = caller.line_type if caller is not None else "N/A"
    for t, key in _LINE_KEYS:
        out[key] = 1.0 if line == t else 0.0

    out["from_present"] = _b(bool(s.from_header))
    out["pai_present"] = _b(bool(s.pai))
    out["pai_valid_number"] = NAN if not f.pai_number else _b(len(f.numbers) > 0 and f.caller is not None and f.caller.valid)
    out["cli_mismatch"] = _b(f.cli_mismatch)
    cid = sipheaders.number_of(s.caller_number)
    out["callerid_from_mismatch"] = _b(bool(cid) and bool(f.from_number) and cid.lstrip("+")[-9:] != f.from_number.lstrip("+")[-9:])
    out["diversion_present"] = _b(bool(s.diversion))
    out["from_host_is_ip"] = _b(from_addr is not None and hosts(from_addr.host).is_ip)
    out["from_user_phone"] = _b(from_addr is not None and from_addr.uri_params.get("user") == "phone")
    out["pai_tel_uri"] = _b(pai_addr is not None and pai_addr.scheme == "tel")
    out["problems"] = float(len(f.problems))

    att, ident = f.attestation, f.identity
    passport = ident.passport
    out["identity_present"] = _b(ident.present)
    out["identity_malformed"] = _b(ident.present and (passport is None or not passport.attest))
    out["attest_a"] = _b(att.level == "A")
    out["attest_b"] = _b(att.level == "B")
    out["attest_c"] = _b(att.level == "C")
    verstat = (pai_addr.param("verstat") if pai_addr else None) or (from_addr.param("verstat") if from_addr else None)
    out["verstat_present"] = _b(bool(verstat))
    out["verstat_trusted"] = _b(att.source.startswith("verstat"))
    out["verified"] = _b(att.verified)
    out["verification_failed"] = _b(att.verification_failed)
    if passport is not None:
        out["orig_tn_matches"] = _b(bool(digits) and passport.orig_tn.lstrip("+") == digits)
        out["dest_tn_matches"] = _b(any(t.lstrip("+") == ddi for t in passport.dest_tns))
        if passport.iat is not None:
            age = s.timestamp - passport.iat
            out["iat_age_s"] = min(max(age, 0.0), 86400.0)
            out["iat_future"] = _b(age < -60)
        else:
            out["iat_age_s"], out["iat_future"] = NAN, 0.0
        out["ppt_shaken"] = _b(passport.ppt.lower() == "shaken")
    else:
        out["orig_tn_matches"] = out["dest_tn_matches"] = out["iat_age_s"] = NAN
        out["iat_future"] = out["ppt_shaken"] = 0.0

    ua = x.ua_family
    out["ua_present"] = _b(bool(s.user_agent))
    out["ua_len"] = float(len(s.user_agent))
    for key, needles in _UA_KEYS:
        out[key] = 1.0 if any(n in ua for n in needles) else 0.0
    out["ua_has_version"] = _b(any(c.isdigit() for c in s.user_agent))

    via = [hosts(h) for h in x.via_hosts]
    out["via_count"] = float(len(s.via))
    out["via_private_hops"] = float(sum(1 for h in via if h.private))
    out["via_distinct_networks"] = float(len({h.network for h in via}))
    mf = s.max_forwards.strip()
    if mf.isascii() and mf.isdigit() and len(mf) < 6:
        out["max_forwards"] = float(int(mf))
        out["hops"] = float(max(0, 70 - int(mf)))
    else:
        out["max_forwards"] = out["hops"] = NAN
    out["source_private"] = _b(bool(s.source_ip) and hosts(s.source_ip).private)
    out["source_port_5060"] = _b(s.source_port == 5060)
    contact = x.contact
    chost = hosts(contact.host) if contact is not None else None
    out["contact_present"] = _b(bool(s.contact))
    out["contact_private"] = _b(chost is not None and chost.private)
    out["contact_is_ip"] = _b(chost is not None and chost.is_ip)
    out["contact_tcp_tls"] = _b(contact is not None and contact.uri_params.get("transport", "").lower() in ("tcp", "tls"))

    names = [h.lower() for h in s.header_names]
    nameset = set(names)
    out["header_count"] = float(len(names))
    out["shape_has_x_headers"] = _b(any(h.startswith("x-") for h in names))
    out["shape_has_session_timer"] = _b("session-expires" in nameset)
    out["shape_has_supported"] = _b("supported" in nameset)
    out["shape_has_allow"] = _b("allow" in nameset)
    out["shape_has_p_preferred"] = _b("p-preferred-identity" in nameset)
    out["shape_from_before_to"] = _b("from" in nameset and "to" in nameset and names.index("from") < names.index("to"))
    codecs = s.codecs.lower()
    out["codec_count"] = float(len([c for c in codecs.strip("()").split("|") if c]))
    for c, key in _CODEC_KEYS:
        out[key] = 1.0 if c in codecs else 0.0

    local = datetime.fromtimestamp(s.timestamp, x.zone)
    hour = local.hour + local.minute / 60.0
    out["hour"] = float(local.hour)
    out["hour_sin"] = math.sin(2 * math.pi * hour / 24)
    out["hour_cos"] = math.cos(2 * math.pi * hour / 24)
    out["weekday"] = float(local.weekday())
    out["weekend"] = _b(local.weekday() >= 5)
    out["business_hours"] = _b(local.weekday() < 5 and 8 <= local.hour < 18)
    out["night"] = _b(local.hour < 6)

    for keys, counts in zip(_VELOCITY_KEYS, (r.number, r.number_dialled, r.profile, r.profile_dialled, r.withheld_dialled, r.dialled, r.source)):
        for key, n in zip(keys, counts):
            out[key] = float(n)
    out["withheld_share_dialled_1h"] = r.withheld_dialled[2] / r.dialled[2] if r.dialled[2] else NAN
    out["number_dialled_numbers_24h"] = float(r.number_dialled_numbers)
    out["profile_dialled_numbers_24h"] = float(r.profile_dialled_numbers)
    out["profile_numbers_24h"] = float(r.profile_numbers)
    out["number_profiles_24h"] = float(r.number_profiles)
    out["number_first_seen"] = _b(caller is not None and r.number_age is None)
    out["number_age_log"] = math.log10(1.0 + max(0.0, r.number_age)) if r.number_age is not None else NAN
    out["profile_first_seen"] = _b(r.profile_age is None)
    out["profile_age_log"] = math.log10(1.0 + max(0.0, r.profile_age)) if r.profile_age is not None else NAN
    out["profile_common"] = _b(x.profile.common)
    out["profile_anonymous_common"] = _b(x.profile.anonymous_common)
    out["trait_numbers_24h"] = float(x.trait_numbers)

    out["allowlisted"] = _b(x.lists.allowed(f.allow_identity.number) is not None)
    out["denylisted"] = _b(x.lists.denied(*f.numbers) is not None)
    out["number_confirmed_fraud"] = float(r.number_outcomes[0])
    out["number_confirmed_genuine"] = float(r.number_outcomes[1])
    out["profile_confirmed_fraud"] = float(r.profile_outcomes[0])
    out["profile_confirmed_genuine"] = float(r.profile_outcomes[1])
    out["rule_score"] = float(x.rule_score)
    return out


def vector(features: dict[str, float]) -> list[float]:
    return [features[name] for name in FEATURE_NAMES]


def _country_code(e164: str) -> int | None:
    if not e164.startswith("+"):
        return None
    for n in (1, 2, 3):
        code = e164[1 : 1 + n]
        if code.isdigit() and int(code) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return int(code)
    return None


assert len(WINDOWS) == len(_WIN)
