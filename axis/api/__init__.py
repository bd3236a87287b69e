"""REST routers of the axis."""
