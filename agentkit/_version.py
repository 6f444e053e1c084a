"""Layer 0: the package version, in one place (pyproject.toml reads it from here too)."""

__version__ = "0.1.0.dev0"
