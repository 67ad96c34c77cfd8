"""The audit log: every write to the server — who, what, when, from where ([AUDIT.md])."""
