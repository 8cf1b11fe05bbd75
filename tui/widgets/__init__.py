"""Reusable widgets of the terminal UI; the only place where DEFAULT_CSS lives."""
