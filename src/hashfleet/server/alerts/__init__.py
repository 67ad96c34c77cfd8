"""Alerts: rules on each thing's snapshots, open while the condition holds, then history."""
