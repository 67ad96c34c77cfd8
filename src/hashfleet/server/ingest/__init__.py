"""Ingest: agent batches to durable storage and the live index."""
