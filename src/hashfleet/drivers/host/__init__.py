"""Readings of the machine a rig runs on: CPU temperature, and GPUs by their vendors ' tools."""
