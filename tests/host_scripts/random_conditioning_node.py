"""A test-only custom node for the host tests: random CONDITIONING of any width, so a tiny model whose
text width is not umT5's can be streamed without the multi-GB Wan text encoder. Copied into the test
host's custom_nodes by tests/conftest.py; never part of the pack."""

import torch


class TestRandomConditioning:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"seed": ("INT", {"default": 0, "min": 0, "max": 2**31}),
                             "length": ("INT", {"default": 8, "min": 1, "max": 512}),
                             "width": ("INT", {"default": 32, "min": 1, "max": 8192})}}

    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "make"
    CATEGORY = "testing"

    def make(self, seed, length, width):
        g = torch.Generator().manual_seed(seed)
        return ([[torch.randn(1, length, width, generator=g), {}]],)


NODE_CLASS_MAPPINGS = {"TestRandomConditioning": TestRandomConditioning}
