"""hashfleet: watch and run a mining fleet from one place."""

__version__ = "0.1.0"
