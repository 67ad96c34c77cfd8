"""Driver for MicroBT Whatsminer miners (btminer API 2.x on TCP 4028, API 3 on TCP 4433)."""
