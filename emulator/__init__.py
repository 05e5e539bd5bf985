"""Local HTTP emulator of the Constant Contact v2/v3 and Cometly APIs for source-contacts tests."""
from .core import Emulator

__all__ = ["Emulator"]
