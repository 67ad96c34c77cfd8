"""Device simulators speaking the real protocols on loopback addresses."""
