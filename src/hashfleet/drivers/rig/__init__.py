"""A rig: several mining programs on one machine (a CPU miner and a GPU miner at once)."""
