"""Chia farm (full node, farmer, harvester RPC over mutual-TLS HTTPS), after chia-tea."""
