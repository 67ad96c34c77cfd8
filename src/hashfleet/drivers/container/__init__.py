"""Hydro / immersion cooling containers: the container PLC's Modbus TCP points (port 502)
— loop temperatures, flow, pressure, pumps, dry-cooler fans, alarms — and the two
controls it takes remotely, cooling on/off (coil 0) and the supply set point (holding 0)."""
