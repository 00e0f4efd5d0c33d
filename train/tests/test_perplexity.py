"""Sliding-window perplexity: the batched evaluation equals a plain loop that scores one window at a time, in
float64, on awkward lengths (stride below the window, a short last window, fewer tokens than a window)."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lowbit_train.model import GPT2, GPT2Config, quantize_model
from lowbit_train.train import perplexity, sliding_windows


def reference_nll(model: GPT2, tokens: np.ndarray, context: int, stride: int) -> tuple[float, int]:
    """Each token after the first scored once, by the first window that reaches it: window by window."""
    total, scored, prev_end, begin = 0.0, 0, 0, 0
    with torch.no_grad():
        while begin < len(tokens):
            end = min(begin + context, len(tokens))
            window = torch.from_numpy(tokens[begin:end].astype(np.int64))[None]  # (1, W)
            logp = F.log_softmax(model(window)[0].double(), dim=-1)  # (W, V)
            for t in range(max(prev_end, begin + 1), end):
                total -= float(logp[t - begin - 1, tokens[t]])
                scored += 1
            prev_end = end
            if end == len(tokens):
                break
            begin += stride
    return total, scored


@pytest.fixture(scope="module")
def model() -> GPT2:
    torch.manual_seed(0)
    m = GPT2(GPT2Config(vocab_size=97, n_positions=32, n_embd=16, n_layer=2, n_head=2))
    quantize_model(m, "quantgpt", 2, 4)  # the fake-quant path, as evaluated after training
    return m.eval()


@pytest.mark.parametrize("n_tokens,context,stride,batch", [(203, 32, 32, 4), (203, 32, 13, 5), (40, 32, 7, 32),
                                                           (17, 32, 32, 8), (64, 32, 32, 1)])
def test_batched_perplexity_equals_window_loop(model, n_tokens, context, stride, batch):
    tokens = np.random.default_rng(n_tokens + stride).integers(0, 97, n_tokens).astype("<u2")
    total, scored = reference_nll(model, tokens, context, stride)
    got = perplexity(model, tokens, context, stride, "cpu", batch_windows=batch)
    assert got["scored_tokens"] == scored
    assert got["nll"] == pytest.approx(total / scored, rel=1e-5)
    assert got["perplexity"] == pytest.approx(math.exp(total / scored), rel=1e-5)


def test_windows_score_each_token_at_most_once_with_context():
    # Overlapping windows score every token after the first; windows that only touch (stride == context)
    # cannot score a window's first token, which has no context inside it (the runtime's rule too).
    for n, context, stride in ((1000, 256, 256), (1000, 256, 100), (255, 256, 256), (257, 256, 256)):
        windows = sliding_windows(n, context, stride)
        covered = [t for _, end, first in windows for t in range(first, end)]
        assert covered == sorted(set(covered)) and all(first > begin for begin, _, first in windows)
        unscored = set(range(1, n)) - set(covered)
        assert unscored == ({begin for begin, _, _ in windows[1:]} if stride == context else set()), (n, context, stride)
