"""Canonical value objects every part of hashfleet speaks."""
