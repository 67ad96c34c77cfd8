"""What the drivers of aftermarket Antminer firmwares (Braiins OS, LuxOS, VNish) share:
reading cgminer sections defensively and replacing pools with cgminer's pool commands."""
