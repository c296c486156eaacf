"""IFD scorer: against a hand computation with plain forward passes, and its defining property."""
from __future__ import annotations

import math

import pytest
import torch

from rewardds import chat
from rewardds.eval.ifd import ifd_scores
from rewardds.training.lm import LMCollator, token_losses
from tests.helpers import tiny_llama, tiny_tokenizer

TASK = "medical"
PAIRS = [
    ("the patient has a mild fever and a cough since two days", "take rest drink water and see a doctor"),
    ("my savings account earns little interest what should I do", "consider a diversified index fund with low fees"),
    ("write a function that returns the sum of a list", "def add(a, b): return a + b"),
]


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer()


def hand_mean_nll(model, ids: list[int], n: int) -> float:
    """Mean -log p of the last n tokens of ids, one unpadded forward pass."""
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0].float(), dim=-1)
    return float(-sum(logp[t - 1, ids[t]] for t in range(len(ids) - n, len(ids))) / n)


def hand_answer_ids(tok, question: str, answer: str) -> tuple[list[int], list[int]]:
    """Prompt ids and the template's answer ids, built from the chat template directly."""
    prompt = chat.render_prompt(tok, TASK, question)
    full = tok.apply_chat_template(chat.messages(TASK, question, answer), tokenize=False)
    assert full.startswith(prompt)
    return (tok(prompt, add_special_tokens=False)["input_ids"],
            tok(full[len(prompt):], add_special_tokens=False)["input_ids"])


def hand_ifd(model, tok, question: str, answer: str) -> float:
    p_ids, a_ids = hand_answer_ids(tok, question, answer)
    cond = hand_mean_nll(model, p_ids + a_ids, len(a_ids))
    uncond = hand_mean_nll(model, [tok.bos_token_id] + a_ids, len(a_ids))
    return cond / uncond


def test_ifd_matches_hand_computation(tok):
    model = tiny_llama(tok, seed=1)
    qs, ans = zip(*PAIRS)
    got = ifd_scores(model, tok, TASK, list(qs), list(ans), max_length=512, batch_size=2)  # padded batches
    want = [hand_ifd(model, tok, q, a) for q, a in PAIRS]
    assert got == pytest.approx(want, rel=1e-5)


def test_ifd_truncates_like_training(tok):
    """A pair longer than max_length is scored on the ids encode_example feeds to training."""
    model = tiny_llama(tok, seed=2)
    q, a = PAIRS[0][0], " ".join([PAIRS[0][1]] * 4)
    ex = chat.encode_example(tok, TASK, q, a, max_length=48)
    n = sum(label != -100 for label in ex["labels"])
    _, full_answer = hand_answer_ids(tok, q, a)
    assert n < len(full_answer)  # the case really truncates
    want = hand_mean_nll(model, ex["input_ids"], n) / hand_mean_nll(model, [tok.bos_token_id] + ex["input_ids"][-n:], n)
    assert ifd_scores(model, tok, TASK, [q], [a], max_length=48) == pytest.approx([want], rel=1e-5)


def test_ifd_below_one_once_the_answer_depends_on_the_question(tok):
    """Trained (with the training loss) on question -> answer pairs whose answers differ by
    question, the model predicts each answer far better given its question than alone."""
    torch.manual_seed(0)
    model = tiny_llama(tok, seed=3)
    pairs = PAIRS[:2]
    qs, ans = [q for q, _ in pairs], [a for _, a in pairs]
    before = ifd_scores(model, tok, TASK, qs, ans, max_length=256)
    batch = LMCollator(tok.pad_token_id)([chat.encode_example(tok, TASK, q, a, 256) for q, a in pairs])
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(30):
        opt.zero_grad()
        token_losses(model, batch).mean().backward()
        opt.step()
    after = ifd_scores(model, tok, TASK, qs, ans, max_length=256)
    assert all(x < 1 for x in after), after
    assert all(a < b for a, b in zip(after, before)), (before, after)
    assert model.training  # scoring restored the mode it found


def test_ifd_rejects_mismatched_lengths(tok):
    with pytest.raises(ValueError, match="2 questions but 1 answers"):
        ifd_scores(tiny_llama(tok), tok, TASK, ["a b", "c d"], ["e"], max_length=64)


def test_ifd_starts_answer_alone_with_eos_when_no_bos(tok):
    """Tokenizers without BOS (GPT-2, Qwen2.5): the answer alone follows the EOS separator."""
    from rewardds.eval.ifd import _start_id

    assert _start_id(tok) == tok.bos_token_id
    no_bos = tiny_tokenizer()
    no_bos.bos_token = None
    assert no_bos.bos_token_id is None and _start_id(no_bos) == no_bos.eos_token_id
    assert not math.isnan(ifd_scores(tiny_llama(no_bos), no_bos, TASK, [PAIRS[0][0]], [PAIRS[0][1]], 256)[0])
