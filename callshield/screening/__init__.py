"""Screen the call: the screener, repeat-call history, the allow/deny snapshot and the decision it returns."""
