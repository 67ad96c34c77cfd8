"""XMRig CPU miner (HTTP API)."""
