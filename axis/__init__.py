"""edoc-axis: the national inter-agency e-document axis."""

__version__ = "0.1.0"
