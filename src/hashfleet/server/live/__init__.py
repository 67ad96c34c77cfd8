"""Live index: latest snapshot per thing, aggregates, channels."""
