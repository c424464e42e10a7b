"""The binding's own version and the library major version it is written for."""

__version__ = "1.0.0"

#: The libgraft major version (GRAFT_VERSION_MAJOR) whose API this package wraps.
LIBRARY_MAJOR = 1
