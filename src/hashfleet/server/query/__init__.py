"""Mongo-style queries: parse, match in memory."""
