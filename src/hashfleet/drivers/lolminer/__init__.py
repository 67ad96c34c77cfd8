"""lolMiner GPU miner (read-only HTTP JSON API on ``--apiport``; no controls)."""
