"""Chia farm tools: the plot copier (``hashfleet chia copy-plots``)."""
