"""GMiner GPU miner (read-only HTTP JSON API, ``GET /stat`` on ``--api``; no controls)."""
