"""Avalon family (Canaan AvalonMiner and Avalon Nano: cgminer 4.11 API on TCP 4028, JSON or
text, with the Avalon ``estats`` module string and ``ascset`` controls)."""
