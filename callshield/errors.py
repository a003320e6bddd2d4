"""The exception hierarchy: every error callshield raises on purpose is one of these.

Messages are written for the PBX admin who reads the log: they say what was wrong
and, where it helps, what to do about it.
"""


class CallshieldError(Exception):
    """Base of every callshield error."""


class ConfigError(CallshieldError):
    """The configuration is invalid. ``key`` names the dotted path of the bad key."""

    def __init__(self, key: str, problem: str):
        self.key = key
        self.problem = problem
        super().__init__(f"config key '{key}': {problem}")


class SignalError(CallshieldError):
    """A call signal (JSON or AGI environment) cannot be used."""


class AgiError(CallshieldError):
    """The AGI conversation with Asterisk failed."""


class AgiHangup(AgiError):
    """The channel hung up during the AGI session (HANGUP notice or 511)."""


class AgiTimeout(AgiError):
    """Asterisk did not answer an AGI command in time."""


class AgiProtocolError(AgiError):
    """Asterisk sent something that is not a valid AGI reply."""


class AgiProbe(AgiProtocolError):
    """A connection closed before sending any AGI environment: a TCP health probe."""


class AgiSilentPeer(AgiProbe):
    """A connection that sent nothing at all within ``agi.env_timeout``: a scanner or a
    stuck peer holding a descriptor, not a call (Asterisk sends its environment at once)."""


class StoreError(CallshieldError):
    """The SQLite store cannot be opened or migrated."""


class ListError(CallshieldError):
    """A deny/allow list operation is invalid (bad number, unknown list)."""


class RoutingError(CallshieldError):
    """A numbers, dial-plan, override or staff change is invalid (unknown number or plan,
    bad dial string, slot taken, ...). Nothing was changed."""


class PinError(CallshieldError):
    """A PIN is malformed, wrong, or the caller is locked out after repeated failures."""


class ImportRejected(CallshieldError):
    """A CSV import was refused whole; ``problems`` lists every bad line with its reason."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        shown = "\n".join(f"  {p}" for p in problems[:200])
        more = f"\n  ... and {len(problems) - 200} more" if len(problems) > 200 else ""
        super().__init__(f"{source}: nothing imported, {len(problems)} problem(s):\n{shown}{more}")


class OutcomeError(CallshieldError):
    """A confirmed outcome cannot be recorded (unknown call id, unknown label, already so)."""


class NumberError(CallshieldError):
    """A phone number an operator typed (CLI argument, CSV cell, config key) is not one:
    not digits, or longer than E.164 allows. The stores re-raise it as their own error."""
