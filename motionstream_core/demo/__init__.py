"""The embedded demo model and its sample inputs (see ``loader``)."""

from .loader import (DEMO_ASSETS, DEMO_WEIGHTS, DemoModelMissing, load_autoencoder, load_codec, load_demo,
                     save_autoencoder)

__all__ = ["DEMO_ASSETS", "DEMO_WEIGHTS", "DemoModelMissing", "load_demo", "load_codec", "load_autoencoder",
           "save_autoencoder"]
