"""The demo model's word tokenizer and small text encoder."""

import pytest
import torch

from motionstream_core.config import get_config
from motionstream_core.synthetic import CAPTION_WORDS, SyntheticClipConfig, make_clip
from motionstream_core.text_encoder import STOP_WORDS, DemoTextEncoder, DemoTokenizer, normalise


def test_every_caption_word_is_in_the_fixed_vocabulary():
    tok = DemoTokenizer()
    for word in CAPTION_WORDS - STOP_WORDS:
        assert tok.word_id(word) < tok.first_bucket, word
    for seed in range(30):  # the longest synthetic captions (4 shapes) fit in text_len = 16 with no hashing
        caption = make_clip(seed, SyntheticClipConfig(num_frames=1, min_shapes=4)).caption
        ids = tok.ids(caption)
        assert len(ids) <= 16 and all(1 < i < tok.first_bucket for i in ids), caption


def test_tokenizer_is_deterministic_and_normalises():
    tok = DemoTokenizer(text_len=8)
    ids, mask = tok(["A red Star, and a blue RING!", "a red star and a blue ring"])
    assert ids.dtype == torch.long and mask.dtype == torch.bool and ids.shape == mask.shape == (2, 8)
    assert torch.equal(ids[0], ids[1]) and mask[0].tolist() == [True] * 4 + [False] * 4
    assert (ids[~mask] == tok.pad_id).all()
    assert tok.ids("grey stars") == tok.ids("gray star") and tok.ids("crosses") == tok.ids("cross")
    assert normalise("Crème brûlée") == ["creme", "brulee"]
    assert tok.ids("red circle") != tok.ids("circle red"), "order matters"
    # golden ids: CRC-32 hashing is stable across processes and machines (Python's hash() is salted);
    # a change here means the vocabulary changed and demo checkpoints must be retrained
    assert tok.ids("zebra xylophone red star") == [122, 74, 2, 17]


def test_unknown_words_hash_into_buckets_or_unk():
    tok = DemoTokenizer(hash_buckets=64)
    a, b = tok.ids("zebra"), tok.ids("zebra")
    assert a == b and tok.first_bucket <= a[0] < tok.vocab_size
    ids = tok.ids("a zebra, a giraffe and a unicorn on the moon")
    assert len(ids) == 4 and all(tok.first_bucket <= i < tok.vocab_size for i in ids)
    assert len(set(tok.ids(" ".join(f"word{i}" for i in range(40))))) > 16, "hashing spreads words"
    no_hash = DemoTokenizer(hash_buckets=0)
    assert no_hash.ids("zebra red") == [no_hash.unk_id, no_hash.vocab["red"]]
    assert no_hash.vocab_size == no_hash.first_bucket
    long = tok("red " * 40)[0]
    assert long.shape == (1, 16) and (long != tok.pad_id).all(), "long prompts are truncated"
    empty_ids, empty_mask = tok(["", "   !!! ", "the a an"])
    assert not empty_mask.any() and (empty_ids == tok.pad_id).all()


def test_encoder_output_shape_padding_and_gradients():
    cfg = get_config("demo")
    torch.manual_seed(0)
    enc = DemoTextEncoder.from_config(cfg)
    out = enc.encode(["a red star and a blue ring on a striped green background", "", "zebra"])
    assert out.shape == (3, cfg.text_len, cfg.dit.text_dim) == (3, 16, 64) and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    _, mask = enc.tokenize(["a red star and a blue ring on a striped green background", "", "zebra"])
    assert (out[~mask] == 0).all() and (out[mask].abs().sum(-1) > 0).all()
    assert (out[1] == 0).all(), "the empty prompt is all zeros, like Wan's padded context"
    single = enc.encode("a red star and a blue ring on a striped green background")
    assert torch.allclose(single[0], out[0], atol=1e-5), "batching does not change a prompt's encoding"
    assert not torch.allclose(enc.encode("a red star")[0], enc.encode("a blue star")[0])
    out.sum().backward()
    assert enc.token_embedding.weight.grad is not None and enc.proj.weight.grad.abs().sum() > 0


def test_state_dict_round_trip_and_vocab_guard():
    torch.manual_seed(0)
    a = DemoTextEncoder(text_len=16, text_dim=64)
    b = DemoTextEncoder(text_len=16, text_dim=64)
    keys = set(a.state_dict())
    assert {"token_embedding.weight", "position_embedding", "proj.weight", "vocab_signature"} <= keys
    b.load_state_dict(a.state_dict())
    assert torch.equal(a.encode(["blue ring"]), b.encode(["blue ring"]))
    wrapper = torch.nn.Module()
    wrapper.text = DemoTextEncoder(text_len=16, text_dim=64)
    sd = {f"text.{k}": v for k, v in a.state_dict().items()}
    wrapper.load_state_dict(sd)  # works nested under another module's prefix
    sd["text.vocab_signature"] = sd["text.vocab_signature"] + 1
    with pytest.raises(RuntimeError, match="vocabulary"):
        wrapper.load_state_dict(sd)
