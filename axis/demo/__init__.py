"""`axis demo`: the whole axis working in one command (see `axis.demo.runner`)."""

from axis.demo.runner import DemoError, DemoOptions, run_demo

__all__ = ["DemoError", "DemoOptions", "run_demo"]
