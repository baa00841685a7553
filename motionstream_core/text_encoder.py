"""The embedded demo model's own text encoder (the demo cannot ship umT5).

Prompts become word ids over a fixed vocabulary: the colour, shape and background words the
synthetic generator uses (``motionstream_core.synthetic``), a few motion and scene words, and
``<pad>`` / ``<unk>``. Any other word falls into one of ``hash_buckets`` hashed ids (CRC-32, stable
across processes and machines), so every prompt encodes; ``<unk>`` is used only when hashing is off.
Text is lower-cased and accent-folded, split into words, stripped of a few stop words ("a", "the",
"and", ...), plural nouns are reduced to the vocabulary's singular ("stars" -> "star") and common
synonyms mapped ("grey" -> "gray"); the ids are then truncated or padded to ``text_len``.

:class:`DemoTextEncoder` (embedding + learned positions -> a small pre-norm transformer -> linear)
returns ``[B, text_len, text_dim]`` with **zeros at padding positions**, the convention of Wan's umT5
context, so an empty prompt (the unconditional branch of text guidance) is all zeros. It is trained
jointly with the demo teacher; its state dict carries ``vocab_signature`` so a checkpoint made with
another vocabulary refuses to load instead of silently mapping words to the wrong rows.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from typing import Any, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

PAD, UNK = "<pad>", "<unk>"
# The fixed vocabulary. Order matters (it is the embedding row order): append only, never reorder.
WORDS: tuple[str, ...] = (
    # colours
    "red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink", "brown", "white", "gray", "black",
    # shapes
    "circle", "square", "triangle", "star", "ring", "hexagon", "diamond", "cross", "pentagon",
    # backgrounds
    "background", "cloudy", "striped", "checkered", "dotted", "shaded", "plain", "gradient", "pattern", "texture",
    # scene and motion words a user may type
    "shape", "object", "ball", "box", "small", "big", "large", "light", "dark", "bright", "moving", "move",
    "left", "right", "up", "down", "fast", "slow", "still", "bouncing", "rotating", "spinning", "camera", "pan",
    "zoom", "in", "out", "over", "behind", "around", "across", "one", "two", "three", "four",
)
STOP_WORDS = frozenset({"a", "an", "the", "and", "on", "of", "with", "at", "is", "are", "to", "it", "its", "some"})
SYNONYMS = {
    "grey": "gray", "violet": "purple", "magenta": "pink", "teal": "cyan", "turquoise": "cyan", "checked": "checkered",
    "checker": "checkered", "checkerboard": "checkered", "stripy": "striped", "stripes": "striped",
    "spotted": "dotted", "dots": "dotted", "polka": "dotted", "cloud": "cloudy", "clouds": "cloudy",
    "noisy": "cloudy", "disc": "circle", "disk": "circle", "rectangle": "square", "plus": "cross",
    "donut": "ring", "moves": "move", "moved": "move", "rotate": "rotating", "spin": "spinning",
}
_WORD = re.compile(r"[^\W_]+")


def normalise(prompt: str) -> list[str]:
    """The words of a prompt as the tokenizer sees them (lower case, no accents, no stop words)."""
    text = unicodedata.normalize("NFKD", str(prompt).lower())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return [w for w in _WORD.findall(text) if w not in STOP_WORDS]


class DemoTokenizer:
    """Deterministic word tokenizer: ``tok(prompts) -> (ids long [B, L], mask bool [B, L])``."""

    def __init__(self, text_len: int = 16, hash_buckets: int = 64):
        if text_len < 1 or hash_buckets < 0:
            raise ValueError(f"DemoTokenizer needs text_len >= 1 and hash_buckets >= 0, got {text_len}, {hash_buckets}")
        self.text_len, self.hash_buckets = int(text_len), int(hash_buckets)
        self.vocab: dict[str, int] = {w: i for i, w in enumerate((PAD, UNK) + WORDS)}
        self.first_bucket = len(self.vocab)
        self.pad_id, self.unk_id = self.vocab[PAD], self.vocab[UNK]

    @property
    def vocab_size(self) -> int:
        return self.first_bucket + self.hash_buckets

    @property
    def signature(self) -> int:
        """CRC-32 of everything that decides which id a word gets (stored in checkpoints)."""
        blob = "\n".join([*self.vocab, f"buckets={self.hash_buckets}", " ".join(sorted(STOP_WORDS)),
                          *(f"{k}={v}" for k, v in sorted(SYNONYMS.items()))])
        return zlib.crc32(blob.encode("utf-8"))

    def word_id(self, word: str) -> int:
        """The id of one normalised word."""
        word = SYNONYMS.get(word, word)
        if word in self.vocab:
            return self.vocab[word]
        for cut in ("es", "s"):  # plurals: "crosses" -> "cross", "stars" -> "star"
            if word.endswith(cut) and SYNONYMS.get(word[:-len(cut)], word[:-len(cut)]) in self.vocab:
                return self.vocab[SYNONYMS.get(word[:-len(cut)], word[:-len(cut)])]
        if self.hash_buckets == 0:
            return self.unk_id
        return self.first_bucket + zlib.crc32(word.encode("utf-8")) % self.hash_buckets

    def ids(self, prompt: str) -> list[int]:
        """All ids of a prompt, untruncated."""
        return [self.word_id(w) for w in normalise(prompt)]

    def __call__(self, prompts: Union[str, Sequence[str]]) -> tuple[Tensor, Tensor]:
        if isinstance(prompts, str):
            prompts = [prompts]
        ids = torch.full((len(prompts), self.text_len), self.pad_id, dtype=torch.long)
        for b, prompt in enumerate(prompts):
            row = self.ids(prompt)[: self.text_len]
            ids[b, : len(row)] = torch.tensor(row, dtype=torch.long)
        return ids, ids != self.pad_id


class _Block(nn.Module):
    """Pre-norm transformer block: self-attention over the prompt's words, then an MLP."""

    def __init__(self, width: int, num_heads: int):
        super().__init__()
        if width % num_heads:
            raise ValueError(f"DemoTextEncoder width {width} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.out = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x: Tensor, keep: Tensor) -> Tensor:
        B, L, D = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(B, L, 3, self.num_heads, D // self.num_heads).permute(2, 0, 3, 1, 4)
        attn = F.scaled_dot_product_attention(q, k, v, attn_mask=keep[:, None, None, :])
        x = x + self.out(attn.transpose(1, 2).reshape(B, L, D))
        return x + self.mlp(self.norm2(x))


class DemoTextEncoder(nn.Module):
    """Prompts -> context ``[B, text_len, text_dim]`` for the demo DiT's cross-attention."""

    def __init__(self, text_len: int = 16, text_dim: int = 64, width: int = 128, num_heads: int = 4,
                 num_layers: int = 1, hash_buckets: int = 64):
        super().__init__()
        self.tokenizer = DemoTokenizer(text_len, hash_buckets)
        self.text_len, self.text_dim = text_len, text_dim
        self.token_embedding = nn.Embedding(self.tokenizer.vocab_size, width, padding_idx=self.tokenizer.pad_id)
        self.position_embedding = nn.Parameter(torch.zeros(text_len, width))
        self.blocks = nn.ModuleList(_Block(width, num_heads) for _ in range(num_layers))
        self.norm = nn.LayerNorm(width)
        self.proj = nn.Linear(width, text_dim)
        self.register_buffer("vocab_signature", torch.tensor([self.tokenizer.signature], dtype=torch.int64))
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.position_embedding, std=0.02)
        with torch.no_grad():
            self.token_embedding.weight[self.tokenizer.pad_id].zero_()

    @classmethod
    def from_config(cls, model_config: Any, **kwargs: Any) -> "DemoTextEncoder":
        """Sized for a ``ModelConfig``: ``text_len`` and ``dit.text_dim`` (16 and 64 for "demo")."""
        return cls(text_len=model_config.text_len, text_dim=model_config.dit.text_dim, **kwargs)

    def tokenize(self, prompts: Union[str, Sequence[str]]) -> tuple[Tensor, Tensor]:
        """``(ids long [B, text_len], mask bool [B, text_len])`` on CPU; mask is True at words."""
        return self.tokenizer(prompts)

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        x = self.token_embedding(ids) + self.position_embedding[: ids.shape[1]]
        keep = mask | ~mask.any(1, keepdim=True)  # an empty prompt attends to its pads (then is zeroed)
        for block in self.blocks:
            x = block(x, keep)
        return self.proj(self.norm(x)) * mask[..., None].to(x.dtype)

    def encode(self, prompts: Union[str, Sequence[str]]) -> Tensor:
        """Prompts -> ``[B, text_len, text_dim]`` on this module's device, zeros at padding."""
        ids, mask = self.tokenize(prompts)
        device = self.token_embedding.weight.device
        return self(ids.to(device), mask.to(device))

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        sig = state_dict.get(prefix + "vocab_signature")
        if sig is not None and int(sig.reshape(-1)[0]) != self.tokenizer.signature:
            error_msgs.append(f"{prefix}vocab_signature: the checkpoint's demo text vocabulary "
                              f"({int(sig.reshape(-1)[0])}) differs from this code's ({self.tokenizer.signature})")
            return
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)
