"""Web dashboard: templates and static assets."""
