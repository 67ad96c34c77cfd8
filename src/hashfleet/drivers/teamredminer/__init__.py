"""TeamRedMiner AMD GPU miner (sgminer-style JSON API on TCP 4028; ``restart`` control)."""
