"""Attacker-style tests: what an outsider tries against the portal and the listener, and what must hold (issue 15)."""
