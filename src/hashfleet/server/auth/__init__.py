"""Authentication: users, sessions, API and agent tokens."""
