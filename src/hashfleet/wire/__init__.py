"""Versioned messages shared by agent and server."""
