"""zorgid: the ZORG-ID Mobiel registration and identity system."""

__version__ = "0.1.0"
