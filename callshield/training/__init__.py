"""Offline training, evaluation, replay and simulation; never imported by serve or the call path."""
