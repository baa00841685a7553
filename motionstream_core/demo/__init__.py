"""The embedded demo model and its sample inputs (see ``loader``)."""

from .loader import (
    ASSETS_DIR,
    DEMO_ASSETS,
    DEMO_WEIGHTS,
    WEIGHTS_DIR,
    DemoModelMissing,
    load_demo,
)

__all__ = ["ASSETS_DIR", "DEMO_ASSETS", "DEMO_WEIGHTS", "WEIGHTS_DIR", "DemoModelMissing", "load_demo"]
