"""The bus between ingest and the writer."""
