"""The security tests run with the unit tests' isolation from the developer's own
CALLSHIELD_* environment variables."""

from tests.unit.conftest import _no_callshield_environment  # noqa: F401  (an autouse fixture)
