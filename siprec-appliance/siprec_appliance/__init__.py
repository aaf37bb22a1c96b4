"""SIPREC Session Recording Server appliance."""

from siprec_appliance.version import __version__

__all__ = ["__version__"]
