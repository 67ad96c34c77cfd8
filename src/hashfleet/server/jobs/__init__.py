"""Approved calls handed to the agents, and their results."""
