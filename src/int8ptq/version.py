"""The package version (a leaf: written into every output model's metadata)."""

__version__ = "0.1.0"
