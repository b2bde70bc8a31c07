"""Server-rendered charts for the monitoring dashboards (SVG strings, no plotting library)."""
