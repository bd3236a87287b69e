"""Delivery: the router that makes one delivery per recipient, the worker that hands each
to its adapter (push, pull, file drop: `adapters/`, behind one contract), the retry worker,
and the lifecycle, the one owner of delivery state."""
