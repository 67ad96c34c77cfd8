"""Time series: rollups at every timeframe, tailLog and daily aggregates per timezone."""
