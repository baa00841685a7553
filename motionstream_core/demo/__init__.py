"""The embedded demo model and its sample inputs (see ``loader``)."""

from .loader import (
    ASSETS_DIR,
    DEMO_ASSETS,
    DEMO_WEIGHTS,
    WEIGHTS_DIR,
    DemoModelMissing,
    DemoSample,
    load_demo,
    load_demo_sample,
)

__all__ = ["ASSETS_DIR", "DEMO_ASSETS", "DEMO_WEIGHTS", "WEIGHTS_DIR", "DemoModelMissing", "DemoSample", "load_demo", "load_demo_sample"]
