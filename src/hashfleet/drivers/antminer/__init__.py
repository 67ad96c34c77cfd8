"""Antminer family (cgminer/bmminer JSON API on TCP 4028)."""
