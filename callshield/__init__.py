"""callshield: pre-answer call security and call resilience for Asterisk."""

__version__ = "0.1.0"
