"""The binding's own version and the library major version it is written for."""

__version__ = "1.0.0"

from ._api import GRAFT_VERSION_MAJOR

#: The libgraft major version (GRAFT_VERSION_MAJOR) whose API this package
#: wraps: that of the graft.h _api.py was generated from.
LIBRARY_MAJOR = GRAFT_VERSION_MAJOR
