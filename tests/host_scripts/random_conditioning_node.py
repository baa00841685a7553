"""Test-only custom nodes for the host tests: random CONDITIONING of any width, and a CLIP stand-in that
turns each text into its own random embedding, so a tiny model whose text width is not umT5's can be
streamed (and its prompt switched live) without the multi-GB Wan text encoder. Copied into the test
host's custom_nodes by tests/conftest.py; never part of the pack."""

import zlib

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


class _TextToNoise:
    """Stands in for a ComfyUI CLIP (the Wan text encoder): each text gives its own random [1, L, width]
    embedding (the same text, the same embedding), through the two calls the pack makes."""

    def __init__(self, length, width):
        self.length, self.width = length, width

    def tokenize(self, text):
        return text

    def encode_from_tokens_scheduled(self, tokens):
        g = torch.Generator().manual_seed(zlib.crc32(tokens.encode("utf-8")))
        return [[torch.randn(1, self.length, self.width, generator=g), {}]]


class TestTextCLIP:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"length": ("INT", {"default": 8, "min": 1, "max": 512}),
                             "width": ("INT", {"default": 32, "min": 1, "max": 8192})}}

    RETURN_TYPES = ("CLIP",)
    FUNCTION = "make"
    CATEGORY = "testing"

    def make(self, length, width):
        return (_TextToNoise(length, width),)


NODE_CLASS_MAPPINGS = {"TestRandomConditioning": TestRandomConditioning, "TestTextCLIP": TestTextCLIP}
