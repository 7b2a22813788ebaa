"""The package version, in a module of its own so that subpackages need not import
the package root (which imports the SDK) to read it."""

__version__ = "0.1.0"
