"""Scoring: Call DNA features, scorers (rules now, the model next) and their reasons."""
