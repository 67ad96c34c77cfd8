"""Persisted site settings (global config, per-rack settings) and the auto-sleep automation."""
