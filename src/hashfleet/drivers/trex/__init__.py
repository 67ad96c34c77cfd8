"""T-Rex NVIDIA GPU miner (HTTP JSON API on 4067: summary, pause/resume, pools, config)."""
