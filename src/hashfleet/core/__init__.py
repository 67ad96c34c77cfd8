"""Shared foundations: errors, settings, time, ids."""
