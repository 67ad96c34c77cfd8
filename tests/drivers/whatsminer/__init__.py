"""Tests of the Whatsminer (btminer) driver, simulator and parser."""
