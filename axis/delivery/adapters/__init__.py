"""The axis's delivery adapters, one module per kind."""
