"""Every channel variable callshield reads or sets: the dialplan contract in one place.

docs/channel-variables.md documents each; tests/test_docs.py fails when one is missing.
"""

CALLSHIELD_CALL_ID = "CALLSHIELD_CALL_ID"
RISK_SCORE = "RISK_SCORE"
RISK_STATUS = "RISK_STATUS"
RISK_REASONS = "RISK_REASONS"
ATTESTATION = "ATTESTATION"
SPOOF_STATUS = "SPOOF_STATUS"
SPOOF_VERIFIED = "SPOOF_VERIFIED"
ROUTE_ACTION = "ROUTE_ACTION"
ROUTE = "ROUTE"
ROUTE_FALLBACK = "ROUTE_FALLBACK"
ROUTE_REASON = "ROUTE_REASON"
ANNOUNCEMENT = "ANNOUNCEMENT"
CALLSHIELD_HEALTH = "CALLSHIELD_HEALTH"

# Set by the screen handler, in this order; ROUTE_ACTION goes last so that a session
# cut short leaves it empty and the dialplan fails open.
DECISION_VARIABLES = (
    CALLSHIELD_CALL_ID,
    RISK_SCORE,
    RISK_STATUS,
    RISK_REASONS,
    ATTESTATION,
    SPOOF_STATUS,
    SPOOF_VERIFIED,
    ROUTE,
    ROUTE_FALLBACK,
    ROUTE_REASON,
    ANNOUNCEMENT,
    ROUTE_ACTION,
)

# Set by the dialplan include (asterisk-conf/extensions_callshield.conf), not by the AGI.
CALLSHIELD_FAILOPEN = "CALLSHIELD_FAILOPEN"
DIALPLAN_VARIABLES = (CALLSHIELD_FAILOPEN,)
