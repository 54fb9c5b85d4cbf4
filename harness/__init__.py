"""Helpers shared by tests/ and bench/ (neither imports the other): running the real worker
from outside. Not part of the installed package."""
