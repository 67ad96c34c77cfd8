"""LuxOS (LUXminer): the cgminer-compatible API on TCP 4028 with session-guarded writes."""
