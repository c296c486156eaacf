"""Tests for rewardds.eval.metrics: ROUGE/BLEU, pass@k and answer perplexity.

The perplexity tests use a tiny randomly initialised LlamaForCausalLM and a
word-level tokenizer built here, so nothing is downloaded.
"""
from __future__ import annotations

import itertools
import json
import math

import pytest
import torch

from rewardds.eval.bootstrap import bootstrap_ci
from rewardds.eval.metrics import (
    answer_nll_sums,
    answer_perplexity,
    code_item_scores,
    pass_at_k,
    pass_at_k_metrics,
    pass_at_k_per_task,
    per_example_nll,
    perplexity_from_nll_sums,
    qa_item_scores,
    qa_metrics,
    qa_metrics_from_scores,
    rouge_per_item,
    rouge_scores,
    sentence_bleu,
    sentence_bleu_per_item,
)

# --------------------------------------------------------------------------- ROUGE / BLEU


def test_identical_strings_score_perfectly():
    text = "Drink plenty of fluids and rest for a few days before seeing a doctor again."
    scores = qa_metrics([text], [text])
    assert scores["rougeL"] == pytest.approx(1.0)
    assert scores["rouge1"] == pytest.approx(1.0)
    assert scores["rouge2"] == pytest.approx(1.0)
    assert scores["bleu"] == pytest.approx(100.0)
    assert scores["n"] == 1


def test_rouge_hand_computed():
    # prediction "a cat on the mat sat"  -> tokens: a cat on the mat sat   (6)
    # reference  "the cat sat on the mat" -> tokens: the cat sat on the mat (6)
    # (all words have <= 3 letters, so the stemmer leaves them alone)
    #
    # ROUGE-1: clipped unigram matches: cat 1, on 1, the min(1,2)=1, mat 1, sat 1 -> 5
    #          P = 5/6, R = 5/6, F1 = 5/6
    # ROUGE-2: prediction bigrams {a-cat, cat-on, on-the, the-mat, mat-sat} (5)
    #          reference bigrams  {the-cat, cat-sat, sat-on, on-the, the-mat} (5)
    #          matches: on-the, the-mat -> 2; P = R = 2/5, F1 = 2/5
    # ROUGE-L: LCS = "cat on the mat" (4); P = R = 4/6, F1 = 2/3
    pred, ref = "a cat on the mat sat", "the cat sat on the mat"
    got = rouge_scores([pred], [ref])
    assert got["rouge1"] == pytest.approx(5 / 6)
    assert got["rouge2"] == pytest.approx(2 / 5)
    assert got["rougeL"] == pytest.approx(2 / 3)

    # Unequal lengths: prediction "the cat sat" (3 tokens) vs the same reference (6):
    # ROUGE-1 matches 3: P = 3/3, R = 3/6, F1 = 2*1*0.5/1.5 = 2/3
    # ROUGE-2 matches the-cat, cat-sat = 2: P = 2/2, R = 2/5, F1 = 2*1*0.4/1.4 = 4/7
    # ROUGE-L LCS 3: same as ROUGE-1, 2/3
    # The mean over both pairs is reported.
    got = rouge_scores([pred, "the cat sat"], [ref, ref])
    assert got["rouge1"] == pytest.approx((5 / 6 + 2 / 3) / 2)
    assert got["rouge2"] == pytest.approx((2 / 5 + 4 / 7) / 2)
    assert got["rougeL"] == pytest.approx((2 / 3 + 2 / 3) / 2)


def test_rouge_uses_stemming():
    got = rouge_scores(["running"], ["run"])
    assert got["rouge1"] == pytest.approx(1.0)
    assert got["rougeL"] == pytest.approx(1.0)
    from rouge_score import rouge_scorer

    unstemmed = rouge_scorer.RougeScorer(["rouge1"], use_stemmer=False).score("run", "running")
    assert unstemmed["rouge1"].fmeasure == 0.0  # so the 1.0 above is the stemmer's doing


def test_sentence_bleu_is_mean_of_sacrebleu_sentence_scores():
    import sacrebleu

    preds = ["the patient should rest and drink water", "take the tablets twice a day"]
    refs = ["the patient should drink water and rest", "take one tablet every day"]
    expected = [sacrebleu.sentence_bleu(p, [r]).score for p, r in zip(preds, refs)]
    assert 0.0 < min(expected) < 100.0
    assert sentence_bleu(preds, refs) == pytest.approx(sum(expected) / 2)


def test_empty_and_mismatched_inputs():
    assert rouge_scores([], []) == {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    assert sentence_bleu([], []) == 0.0
    assert qa_metrics([], [])["n"] == 0
    with pytest.raises(ValueError):
        rouge_scores(["a"], [])
    with pytest.raises(ValueError):
        sentence_bleu(["a", "b"], ["a"])
    # an empty prediction scores zero instead of failing
    assert qa_metrics([""], ["some reference"])["rougeL"] == 0.0


QA_PREDS = ["a cat on the mat sat", "the cat sat", "drink water and rest", "see a doctor", "", "take two tablets daily"]
QA_REFS = ["the cat sat on the mat", "the cat sat on the mat", "rest and drink plenty of water",
           "see a doctor soon", "anything", "take one tablet every day"]


def test_per_item_metrics_hand_computed_and_means_unchanged():
    # the two cat pairs of test_rouge_hand_computed, item by item
    got = rouge_per_item(["a cat on the mat sat", "the cat sat"], ["the cat sat on the mat"] * 2)
    assert got["rouge1"] == pytest.approx([5 / 6, 2 / 3])
    assert got["rouge2"] == pytest.approx([2 / 5, 4 / 7])
    assert got["rougeL"] == pytest.approx([2 / 3, 2 / 3])
    import sacrebleu

    assert sentence_bleu_per_item(QA_PREDS[:2], QA_REFS[:2]) == [
        sacrebleu.sentence_bleu(p, [r]).score for p, r in zip(QA_PREDS[:2], QA_REFS[:2])]
    # the aggregates are exactly (bit for bit) the left-to-right mean of the per-item values
    per = rouge_per_item(QA_PREDS, QA_REFS)
    means = rouge_scores(QA_PREDS, QA_REFS)
    for key in ("rouge1", "rouge2", "rougeL"):
        total = 0.0
        for v in per[key]:
            total += v
        assert means[key] == total / len(QA_PREDS)
    assert sentence_bleu(QA_PREDS, QA_REFS) == sum(sentence_bleu_per_item(QA_PREDS, QA_REFS)) / len(QA_PREDS)
    assert rouge_per_item([], []) == {"rouge1": [], "rouge2": [], "rougeL": []}
    assert sentence_bleu_per_item([], []) == []


def test_qa_metrics_keeps_its_keys_and_adds_paired_intervals():
    out = qa_metrics(QA_PREDS, QA_REFS)
    assert {k: out[k] for k in ("rouge1", "rouge2", "rougeL")} == rouge_scores(QA_PREDS, QA_REFS)
    assert out["bleu"] == sentence_bleu(QA_PREDS, QA_REFS) and out["n"] == len(QA_PREDS)
    assert set(out["ci95"]) == {"rouge1", "rouge2", "rougeL", "bleu"}
    for key, (lo, hi) in out["ci95"].items():
        assert lo <= out[key] <= hi and lo < hi, key
    # items resampled, the same indices for every metric (seed 0, 1000 resamples by default)
    per = dict(rouge_per_item(QA_PREDS, QA_REFS), bleu=sentence_bleu_per_item(QA_PREDS, QA_REFS))
    assert out["ci95"] == {k: list(v) for k, v in bootstrap_ci(per, n_boot=1000, seed=0).items()}
    assert qa_metrics(QA_PREDS, QA_REFS) == out  # deterministic
    assert qa_metrics(QA_PREDS, QA_REFS, seed=1)["ci95"] != out["ci95"]
    json.dumps(out, allow_nan=False)
    empty = qa_metrics([], [])
    assert empty["n"] == 0 and empty["rougeL"] == 0.0 and empty["ci95"]["rougeL"] == [None, None]
    json.dumps(empty, allow_nan=False)


def test_item_scores_are_the_per_item_values_behind_the_metrics():
    sums = [(float(i) + 0.5, i + 1) for i in range(len(QA_PREDS))]
    scores = qa_item_scores(QA_PREDS, QA_REFS, nll_sums=sums)
    assert scores["rougeL"] == rouge_per_item(QA_PREDS, QA_REFS)["rougeL"]
    assert scores["bleu"] == sentence_bleu_per_item(QA_PREDS, QA_REFS)
    assert scores["nll_sum"] == [s for s, _ in sums] and scores["n_tokens"] == [n for _, n in sums]
    # the metrics from the scores are those of qa_metrics (one scoring pass in the evaluation stage)
    assert qa_metrics_from_scores(scores) == qa_metrics(QA_PREDS, QA_REFS, nll_sums=sums)
    assert qa_metrics_from_scores(scores)["ppl"] == pytest.approx(perplexity_from_nll_sums(sums))
    assert "nll_sum" not in qa_item_scores(QA_PREDS, QA_REFS)
    with pytest.raises(ValueError, match="nll_sums"):
        qa_item_scores(QA_PREDS, QA_REFS, nll_sums=sums[:2])
    code = code_item_scores([[True, False], [False, False], {"n": 2, "c": 2}], ks=(2,))
    assert code == {"pass@1": [0.5, 0.0, 1.0], "pass@2": [1.0, 0.0, 1.0], "n_samples": [2, 2, 2],
                    "n_correct": [1, 0, 2]}


# --------------------------------------------------------------------------- pass@k


def _brute_force_pass_at_k(n: int, c: int, k: int) -> float:
    samples = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(samples[i] for i in subset) for subset in subsets) / len(subsets)


@pytest.mark.parametrize("n", range(1, 8))
def test_pass_at_k_matches_enumeration(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(_brute_force_pass_at_k(n, c, k), abs=1e-12), (n, c, k)


def test_pass_at_k_edge_cases_and_stability():
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(1000, 0, 100) == 0.0
    assert pass_at_k(1000, 1000, 100) == 1.0
    # C(2000, 1000) overflows a float; the product form does not.
    assert pass_at_k(2000, 1, 1000) == pytest.approx(0.5)
    for bad in [(0, 0, 1), (3, 4, 1), (3, -1, 1), (3, 1, 0), (3, 1, 4)]:
        with pytest.raises(ValueError):
            pass_at_k(*bad)


def test_pass_at_k_per_task_and_intervals():
    # task passes: 1 of 2, 0 of 2, 2 of 2 -> pass@1 per task 0.5, 0, 1; pass@2 1, 0, 1
    tasks = [[True, False], [False, False], [True, True]]
    assert pass_at_k_per_task(tasks, 1) == [0.5, 0.0, 1.0]
    assert pass_at_k_per_task(tasks, 2) == [1.0, 0.0, 1.0]
    out = pass_at_k_metrics(tasks, ks=(2,))
    assert out["pass@1"] == pytest.approx(0.5) and out["pass@2"] == pytest.approx(2 / 3) and out["n"] == 3
    assert set(out["ci95"]) == {"pass@1", "pass@2"}
    for key, (lo, hi) in out["ci95"].items():
        assert 0.0 <= lo <= out[key] <= hi <= 1.0, key
    # evaluate_samples' per_task entries ({"n", "c", ...}) are accepted as they are
    counts = [{"n": 2, "c": 1, "statuses": ["passed", "failed"]}, {"n": 2, "c": 0}, {"n": 2, "c": 2}]
    assert pass_at_k_metrics(counts, ks=(2,)) == out
    # paired with the QA metrics of the same items: same resamples (same n and seed)
    many = [[i % 3 == 0, i % 2 == 0] for i in range(40)]
    got = pass_at_k_metrics(many)
    assert got["ci95"]["pass@1"] == list(bootstrap_ci(pass_at_k_per_task(many, 1)))
    with pytest.raises(ValueError):
        pass_at_k_metrics([[True]], ks=(2,))  # pass@2 needs 2 samples
    empty = pass_at_k_metrics([])
    assert empty["n"] == 0 and math.isnan(empty["pass@1"]) and empty["ci95"]["pass@1"] == [None, None]


# --------------------------------------------------------------------------- perplexity

SENTENCES = [
    "question : what is two plus two ? answer : four",
    "the cat sat on the mat and the dog ran in the park",
    "a doctor gives careful advice to a patient with a cough",
    "drink water rest and sleep well",
]


def _tokenizer(pad_token: str = "<pad>"):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(SENTENCES, trainers.WordLevelTrainer(special_tokens=["<pad>", "<unk>", "<s>", "</s>"]))
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token=pad_token, unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    )


@pytest.fixture(scope="module")
def tokenizer():
    return _tokenizer()


@pytest.fixture(scope="module")
def model(tokenizer):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )
    return LlamaForCausalLM(config).eval()


PROMPTS = ["<s> question : what is two plus two ? answer :", "<s> the cat", "<s> a doctor gives", "<s> drink"]
ANSWERS = ["four", "sat on the mat and the dog ran in the park", "careful advice", "water rest and sleep well"]


def _hand_nll(model, tokenizer, prompt: str, answer: str) -> tuple[float, int]:
    """Summed NLL of the answer (+ eos) tokens, written out with math.log/exp on one unpadded sequence."""
    vocab = tokenizer.get_vocab()
    p_ids = [vocab[w] for w in prompt.split()]
    a_ids = [vocab[w] for w in answer.split()] + [vocab["</s>"]]
    ids = p_ids + a_ids
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0].tolist()
    total = 0.0
    for pos in range(len(p_ids), len(ids)):
        row = logits[pos - 1]  # the logits at pos-1 predict the token at pos
        top = max(row)
        log_z = top + math.log(sum(math.exp(v - top) for v in row))
        total += log_z - row[ids[pos]]  # -log softmax(row)[target]
    return total, len(a_ids)


def test_padded_batch_equals_one_at_a_time(model, tokenizer):
    # The prompts and answers have different lengths, so batches are right-padded.
    batched = per_example_nll(model, tokenizer, PROMPTS, ANSWERS, batch_size=4)
    single = [per_example_nll(model, tokenizer, [p], [a], batch_size=1)[0] for p, a in zip(PROMPTS, ANSWERS)]
    assert batched == pytest.approx(single, abs=1e-5)
    assert answer_perplexity(model, tokenizer, PROMPTS, ANSWERS, batch_size=3) == pytest.approx(
        answer_perplexity(model, tokenizer, PROMPTS, ANSWERS, batch_size=1), rel=1e-5
    )


def test_attention_mask_is_passed_for_padded_batches(model, tokenizer):
    seen = []

    def spy(_module, args, kwargs):
        seen.append((kwargs.get("input_ids"), kwargs.get("attention_mask")))

    handle = model.register_forward_pre_hook(spy, with_kwargs=True)
    try:
        per_example_nll(model, tokenizer, PROMPTS, ANSWERS, batch_size=4)
    finally:
        handle.remove()
    assert len(seen) == 1
    input_ids, mask = seen[0]
    assert mask is not None and mask.shape == input_ids.shape
    assert (mask == 0).any(), "the batch should contain padding"
    # right padding: each row is ones then zeros, and padded slots hold the pad id
    for row_ids, row_mask in zip(input_ids, mask):
        n = int(row_mask.sum())
        assert row_mask[:n].eq(1).all() and row_mask[n:].eq(0).all()
        assert row_ids[n:].eq(tokenizer.pad_token_id).all()


@pytest.mark.parametrize("pad_token", ["<pad>", "</s>"])
def test_nll_and_perplexity_equal_hand_computed_cross_entropy(model, pad_token):
    # pad == eos is the case where masking labels by token id would drop the
    # answer's own eos; the positions must be masked instead.
    tok = _tokenizer(pad_token)
    hand = [_hand_nll(model, tok, p, a) for p, a in zip(PROMPTS, ANSWERS)]
    got = per_example_nll(model, tok, PROMPTS, ANSWERS, batch_size=4)
    assert got == pytest.approx([s / n for s, n in hand], abs=1e-5)
    # corpus level: exp(total NLL / total answer tokens), not a mean of per-example perplexities
    expected = math.exp(sum(s for s, _ in hand) / sum(n for _, n in hand))
    assert answer_perplexity(model, tok, PROMPTS, ANSWERS, batch_size=2) == pytest.approx(expected, rel=1e-5)


def test_qa_metrics_perplexity_and_its_interval(model, tokenizer):
    sums = answer_nll_sums(model, tokenizer, PROMPTS, ANSWERS, batch_size=2)
    assert [s / n for s, n in sums] == pytest.approx(per_example_nll(model, tokenizer, PROMPTS, ANSWERS), abs=1e-6)
    ppl = answer_perplexity(model, tokenizer, PROMPTS, ANSWERS, batch_size=2)
    assert perplexity_from_nll_sums(sums) == ppl
    preds = ["four", "sat on the mat", "advice", "water"]
    out = qa_metrics(preds, ANSWERS, nll_sums=sums)
    assert out["ppl"] == ppl
    lo, hi = out["ci95"]["ppl"]
    assert lo <= ppl <= hi and lo < hi
    # the statistic is the corpus perplexity of each resample, not a mean of per-item perplexities
    import numpy as np

    from rewardds.eval.bootstrap import resample_indices

    idx = resample_indices(4, n_boot=1000, seed=0)
    nll = np.array([s for s, _ in sums])
    tok = np.array([n for _, n in sums])
    boot = np.exp(nll[idx].sum(axis=1) / tok[idx].sum(axis=1))
    assert [lo, hi] == pytest.approx(list(np.quantile(boot, [0.025, 0.975])))
    # the other metrics' intervals do not depend on whether ppl is there
    assert {k: v for k, v in out["ci95"].items() if k != "ppl"} == qa_metrics(preds, ANSWERS)["ci95"]
    with pytest.raises(ValueError):
        qa_metrics(preds, ANSWERS, nll_sums=sums[:2])


def test_uniform_model_has_perplexity_equal_to_vocab_size(model, tokenizer):
    import copy

    uniform = copy.deepcopy(model)
    with torch.no_grad():
        uniform.lm_head.weight.zero_()  # every logit 0 -> p = 1/V -> NLL = ln V per token
    vocab = len(tokenizer)
    assert answer_perplexity(uniform, tokenizer, PROMPTS, ANSWERS) == pytest.approx(vocab, rel=1e-5)
    assert per_example_nll(uniform, tokenizer, PROMPTS, ANSWERS) == pytest.approx([math.log(vocab)] * 4, rel=1e-5)


def test_scoring_restores_training_mode_and_handles_edges(model, tokenizer):
    model.train()
    try:
        per_example_nll(model, tokenizer, PROMPTS[:1], ANSWERS[:1])
        assert model.training
    finally:
        model.eval()
    assert per_example_nll(model, tokenizer, [], []) == []
    assert math.isnan(answer_perplexity(model, tokenizer, [], []))
    with pytest.raises(ValueError):
        per_example_nll(model, tokenizer, PROMPTS, ANSWERS[:2])
    # an empty answer still scores the eos token
    assert math.isfinite(per_example_nll(model, tokenizer, ["<s> the cat"], [""])[0])


def test_truncation_keeps_answer_tokens(model, tokenizer):
    long_prompt = "<s> " + " ".join(["the cat sat on the mat"] * 10)
    with pytest.warns(UserWarning, match="truncated"):
        got = per_example_nll(model, tokenizer, [long_prompt], ["and the dog ran"], max_length=16)
    assert math.isfinite(got[0])
    # 61 prompt tokens + 5 answer tokens (4 words + eos) > 16: all 5 answer tokens
    # are kept and the prompt is cut from the left to its last 11 tokens.
    s, n = _hand_nll(model, tokenizer, " ".join(long_prompt.split()[-11:]), "and the dog ran")
    assert n == 5
    assert got[0] == pytest.approx(s / n, abs=1e-5)
