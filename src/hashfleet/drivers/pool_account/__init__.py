"""A mining pool account read from the pool's stats API (OCEAN observer API, Braiins Pool)."""
