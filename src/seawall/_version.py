"""The package version, in one place (read by the package and its User-Agent)."""

__version__ = "0.1.0"
