"""Modbus temperature/humidity sensors (XY-MD02 / SHT20-style RS485 modules behind a Modbus
TCP gateway): two input registers, temperature and humidity x10, one request per poll."""
