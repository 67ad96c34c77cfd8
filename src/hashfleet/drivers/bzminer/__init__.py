"""BzMiner GPU miner (HTTP JSON API ``GET /status`` on port 4014; read-only, no controls)."""
