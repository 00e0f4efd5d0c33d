"""summarize_hf.py's parts that run without transformers (CI has none): byte-level decoding of BART ids."""

import os

from lowbit_train.summarize_hf import Decoder

FIXTURE_VOCAB = os.path.join(os.path.dirname(__file__), "..", "..", "test", "fixtures", "bart", "bart-f32", "vocab.json")


def test_decoder_drops_special_tokens_and_joins_bytes(tmp_path):
    # A tiny BART-layout vocab: specials, then byte-level tokens ("Ġ" is the space byte, "Ã©" is é's two bytes).
    import json
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "Hello": 4, "Ġworld": 5, ",": 6, "Ġcaf": 7, "Ã©": 8, "<mask>": 9}
    path = tmp_path / "vocab.json"
    path.write_text(json.dumps(vocab))
    d = Decoder(str(path))
    assert d([2, 0, 4, 5, 6, 7, 8, 9, 2, 1]) == "Hello world, café"
    assert d([2, 0, 2]) == ""


def test_decoder_reads_the_fixture_vocab():
    d = Decoder(FIXTURE_VOCAB)
    assert d([0, 2]) == ""
