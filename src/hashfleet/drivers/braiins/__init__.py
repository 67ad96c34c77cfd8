"""Braiins OS (BOSminer): the cgminer-compatible API on TCP 4028."""
