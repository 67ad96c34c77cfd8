"""Modbus power meters (Eastron SDM630-style three-phase meters over Modbus TCP, port 502):
input registers read in contiguous blocks through a per-meter register table."""
