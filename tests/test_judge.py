"""Pairwise judge: both orders, position bias cancels, scores bounded."""
from __future__ import annotations

import pytest
import torch

from rewardds.eval import judge as J
from tests.helpers import tiny_llama, tiny_tokenizer


@pytest.fixture(scope="module")
def judge():
    tok = tiny_tokenizer()
    from rewardds.models.tiny import CHAT_TEMPLATE

    tok.chat_template = CHAT_TEMPLATE
    return tiny_llama(tok).eval(), tok


def test_win_rate_is_symmetric_in_the_pair(judge):
    model, tok = judge
    qs, preds, refs = ["q one", "q two", "q three"], ["rest and water", "index fund", "x"], ["see a doctor", "cash", "y"]
    ab = J.win_rate(model, tok, qs, preds, refs)
    ba = J.win_rate(model, tok, qs, refs, preds)
    assert ab["judge_n"] == 3 and 0 <= ab["judge_win_rate"] <= 1
    # judging (p, r) or (r, p) uses the same two prompts: the win rates are complementary
    assert ab["judge_win_rate"] + ba["judge_win_rate"] == pytest.approx(1.0)
    assert ab["judge_consistency"] == ba["judge_consistency"]


def test_a_judge_that_always_says_a_scores_half(judge, monkeypatch):
    model, tok = judge
    monkeypatch.setattr(J, "prefers_first", lambda m, t, items, batch_size=8: [True] * len(items))
    out = J.win_rate(model, tok, ["q"] * 4, ["p"] * 4, ["r"] * 4)
    assert out["judge_win_rate"] == 0.5 and out["judge_consistency"] == 0.0


def test_prefers_first_follows_the_likelihood_of_a_and_b(judge):
    model, tok = judge
    a_id = tok("A", add_special_tokens=False)["input_ids"][-1]

    class LovesA(torch.nn.Module):  # the same judge with a large bias towards replying "A"
        def __init__(self):
            super().__init__()
            self.inner = model

        def forward(self, **kw):
            out = self.inner(**kw)
            out.logits[..., a_id] += 50.0
            return out

    assert J.prefers_first(LovesA(), tok, [("q", "x", "y"), ("q2", "y", "x")]) == [True, True]
