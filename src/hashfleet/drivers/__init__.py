"""Device drivers: each family speaks its device's real protocol."""
