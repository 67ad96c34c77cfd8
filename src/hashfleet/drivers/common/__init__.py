"""Transports shared by driver families: the cgminer TCP API and JSON over HTTP."""
