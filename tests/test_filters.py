"""Reusable filters (rewardds.filters) on hand-made inputs: each keeps exactly what its rule says."""
from __future__ import annotations

import copy
import math
import re
from collections import Counter

import numpy as np
import pytest

from rewardds.eval.metrics import sentence_bleu
from rewardds.filters import (ifd_filter, keep_count, length_filter, pair_tfidf_cosine, prompt_dedup, random_select,
                              similarity_dedup)
from rewardds.stages.filtering import select
from tests.test_filtering import make_scored


def items_of(texts, field="question"):
    return [{"id": f"i{k}", field: t} for k, t in enumerate(texts)]


def ids(items):
    return [it["id"] for it in items]


# --------------------------------------------------------------------------- random_select


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 7, 8, 13, 48])
@pytest.mark.parametrize("ratio", [0.01, 0.125, 0.25, 1 / 3, 0.5, 0.9, 1.0])
def test_random_select_keeps_as_many_questions_as_select(n, ratio):
    scored = make_scored(n, seed=n)
    kept, summary = random_select(scored, ratio, seed=0)
    assert len(kept) == len(select(scored, 0.5, ratio)) == keep_count(n, ratio)
    assert summary == {"kept": len(kept), "dropped": n - len(kept)}


def test_random_select_is_deterministic_per_seed():
    scored = make_scored(48)
    a, _ = random_select(scored, 0.25, seed=7)
    b, _ = random_select(copy.deepcopy(scored), 0.25, seed=7)
    assert a == b
    others = [random_select(scored, 0.25, seed=s)[0] for s in range(8, 12)]
    assert any(o != a for o in others)


def test_random_select_has_select_fields_taken_from_the_drawn_candidates():
    scored = make_scored(20, seed=3)
    before = copy.deepcopy(scored)
    kept, _ = random_select(scored, 0.5, seed=1)
    assert scored == before  # input not mutated
    want_fields = set(select(scored, 0.5, 0.5)[0])
    by_id = {q["id"]: q for q in scored}
    for it in kept:
        assert set(it) == want_fields
        q = by_id[it["id"]]
        c, r = q["candidates"].index(it["chosen"]), q["candidates"].index(it["rejected"])  # candidates are unique
        assert c != r  # every question here has >= 2 candidates
        assert (it["question"], it["reward"], it["ppl"], it["rejected_reward"]) == (
            q["question"], q["rewards"][c], q["ppls"][c], q["rewards"][r])
        assert it["fused"] is None
    assert ids(kept) == [q["id"] for q in scored if q["id"] in set(ids(kept))]  # input order


def test_random_select_draws_questions_and_candidates_uniformly_enough():
    """Over many seeds every question is kept sometimes and every candidate is chosen
    sometimes, including the worst-reward one: no guidance leaks into the draw."""
    scored = [{"id": f"q{i}", "question": f"question {i}", "candidates": ["a", "b", "c"],
               "rewards": [0.0, 1.0, 2.0], "ppls": [3.0, 2.0, 1.0]} for i in range(4)]
    single = {"id": "q4", "question": "question 4", "candidates": ["only"], "rewards": [0.5], "ppls": [2.0]}
    picked, chosen = Counter(), Counter()
    for seed in range(200):
        kept, _ = random_select(scored + [single], 0.4, seed=seed)
        assert len(kept) == 2
        for it in kept:
            picked[it["id"]] += 1
            chosen[it["chosen"]] += 1
            if it["id"] == "q4":
                assert it["chosen"] == it["rejected"] == "only"
    assert set(picked) == {"q0", "q1", "q2", "q3", "q4"}
    assert all(chosen[c] > 0 for c in "abc")


# --------------------------------------------------------------------------- length_filter


def test_length_filter_drops_instructions_under_min_whitespace_tokens():
    items = items_of(["hi", "two words", "   ", "one  two\tthree", ""])
    kept, summary = length_filter(items)
    assert ids(kept) == ["i1", "i3"]
    assert summary == {"kept": 2, "dropped": 3, "too_short": 3}
    assert ids(length_filter(items, min_tokens=3)[0]) == ["i3"]
    assert ids(length_filter(items, min_tokens=0)[0]) == ids(items)


def test_length_filter_counts_tokenizer_tokens_and_other_fields():
    from tests.helpers import tiny_tokenizer

    tok = tiny_tokenizer()
    word = "zqxjv"  # one whitespace token, several BPE tokens (unseen letters)
    assert len(tok(word, add_special_tokens=False)["input_ids"]) >= 2
    assert len(tok("a", add_special_tokens=False)["input_ids"]) == 1
    items = items_of([word, "a"], field="answer")
    assert ids(length_filter(items, field="answer")[0]) == []
    assert ids(length_filter(items, field="answer", tokenizer=tok)[0]) == ["i0"]


def test_filters_refuse_a_missing_field():
    with pytest.raises(ValueError, match="position 1 has no field 'question'"):
        length_filter([{"id": "a", "question": "x y"}, {"id": "b", "answer": "x y"}])
    with pytest.raises(ValueError, match="no field 'prompt'"):
        similarity_dedup(items_of(["x y"]), [], field="prompt")


# --------------------------------------------------------------------------- similarity_dedup


def hand_tfidf_cosines(corpus: list[str]) -> np.ndarray:
    """scikit-learn's default TF-IDF by hand: lower-cased 2+ character word tokens, raw counts,
    idf = ln((1 + n) / (1 + df)) + 1, rows L2-normalised; returns the cosine matrix."""
    docs = [Counter(re.findall(r"\b\w\w+\b", d.lower())) for d in corpus]
    vocab = sorted(set().union(*docs))
    df = {w: sum(w in d for d in docs) for w in vocab}
    vecs = np.array([[d[w] * (math.log((1 + len(docs)) / (1 + df[w])) + 1) for w in vocab] for d in docs])
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    return vecs @ vecs.T


REFS = ["mild fever and dry cough"]
TEXTS = ["mild fever and cough at night",  # near the reference
         "savings account interest rate",
         "savings account interest rate today",  # near i1
         "write python function sum list"]


def test_tfidf_dedup_thresholds_match_hand_cosines():
    sims = hand_tfidf_cosines(REFS + TEXTS)  # fitted on references + items
    to_ref, dup = sims[1, 0], sims[3, 2]
    items = items_of(TEXTS)
    kept, summary = similarity_dedup(items, REFS, threshold=to_ref - 1e-6)
    assert "i0" not in ids(kept) and summary["near_reference"] >= 1
    kept, _ = similarity_dedup(items, REFS, threshold=to_ref + 1e-6)
    assert "i0" in ids(kept)
    kept, summary = similarity_dedup(items, REFS, threshold=dup - 1e-6)
    assert "i1" in ids(kept) and "i2" not in ids(kept)  # the first of the pair stays
    assert summary["near_duplicate"] >= 1
    assert ids(similarity_dedup(items, REFS, threshold=dup + 1e-6)[0])[1:3] == ["i1", "i2"]


def test_tfidf_dedup_compares_only_with_kept_items_and_counts_reasons():
    # a ~ b and b ~ c above the threshold, a ~ c below: b is dropped as a's duplicate,
    # so c (compared with kept a only) stays.
    texts = ["alpha beta gamma", "alpha beta gamma delta epsilon", "gamma delta epsilon"]
    sims = hand_tfidf_cosines(texts)
    assert sims[0, 2] < min(sims[0, 1], sims[1, 2])
    t = (sims[0, 2] + min(sims[0, 1], sims[1, 2])) / 2
    kept, summary = similarity_dedup(items_of(texts), [], threshold=t)
    assert ids(kept) == ["i0", "i2"]
    assert summary == {"kept": 2, "dropped": 1, "near_reference": 0, "near_duplicate": 1}


def test_tfidf_dedup_item_dropped_for_a_reference_is_no_comparison_point():
    # x ~ ref and y ~ x above the threshold, y ~ ref below: x goes (near the reference),
    # and y, compared with the reference and the kept items only, stays.
    refs, texts = ["alpha beta gamma"], ["alpha beta gamma delta epsilon", "gamma delta epsilon"]
    sims = hand_tfidf_cosines(refs + texts)
    assert sims[2, 0] < min(sims[1, 0], sims[2, 1])
    t = (sims[2, 0] + min(sims[1, 0], sims[2, 1])) / 2
    kept, summary = similarity_dedup(items_of(texts), refs, threshold=t)
    assert ids(kept) == ["i1"]
    assert summary == {"kept": 1, "dropped": 1, "near_reference": 1, "near_duplicate": 0}


def test_tfidf_dedup_at_the_default_threshold():
    texts = ["What should I do about a mild fever and a cough?",
             "What should I do about a mild fever and cough?",
             "Is an index fund a good place for long term savings?"]
    kept, summary = similarity_dedup(items_of(texts), [])
    assert ids(kept) == ["i0", "i2"]
    kept, summary = similarity_dedup(items_of(texts), ["is an index fund good for long term savings"])
    assert ids(kept) == ["i0"] and summary["near_reference"] == 1


def test_tfidf_dedup_without_any_word_token_keeps_everything():
    kept, summary = similarity_dedup(items_of(["?", "!", "a"]), ["."])
    assert len(kept) == 3 and summary["dropped"] == 0


def test_bleu_dedup_uses_sentence_bleu_on_the_unit_scale():
    texts = ["take rest and drink plenty of water every day",
             "take rest and drink plenty of water each day",
             "a diversified index fund has low fees"]
    b = sentence_bleu([texts[1]], [texts[0]]) / 100.0  # item 1 (hypothesis) against kept item 0
    assert 0 < b < 1
    kept, summary = similarity_dedup(items_of(texts), [], threshold=b - 1e-6, method="bleu")
    assert ids(kept) == ["i0", "i2"] and summary["near_duplicate"] == 1
    assert ids(similarity_dedup(items_of(texts), [], threshold=b + 1e-6, method="bleu")[0]) == ["i0", "i1", "i2"]
    kept, summary = similarity_dedup(items_of(texts), [texts[2]], threshold=0.99, method="bleu")
    assert ids(kept) == ["i0", "i1"] and summary["near_reference"] == 1  # identical text: BLEU 1


def test_similarity_dedup_refuses_an_unknown_method():
    with pytest.raises(ValueError, match="similarity method"):
        similarity_dedup(items_of(["x y"]), [], method="jaccard")


# --------------------------------------------------------------------------- ifd_filter


def test_ifd_filter_drops_misaligned_then_keeps_lowest_share():
    items = items_of(list("abcdefg"))
    scores = [0.5, 1.0, 0.2, float("nan"), 1.3, 0.9, 0.2]
    kept, summary = ifd_filter(items, scores, keep_share=0.5, order="lowest")
    # aligned (IFD < 1, finite): a 0.5, c 0.2, f 0.9, g 0.2 -> the lowest 2 of 4: c and g
    assert ids(kept) == ["i2", "i6"] and [it["ifd"] for it in kept] == [0.2, 0.2]
    assert summary == {"kept": 2, "dropped": 5, "misaligned": 3, "ranked_out": 2}
    assert ids(ifd_filter(items, scores, keep_share=1.0)[0]) == ["i0", "i2", "i5", "i6"]
    assert ids(ifd_filter(items, scores, keep_share=1.0, max_ifd=0.5)[0]) == ["i2", "i6"]
    assert "ifd" not in items[0]  # inputs untouched


def test_ifd_filter_ties_keep_input_order_and_share_counts_like_select():
    items = items_of(list("abc"))
    assert ids(ifd_filter(items, [0.3, 0.3, 0.3], keep_share=1 / 3)[0]) == ["i0"]
    assert ids(ifd_filter(items, [0.9, 0.1, 0.5], keep_share=0.01, order="lowest")[0]) == ["i1"]  # at least one
    assert ifd_filter(items, [1.0, 2.0, float("inf")], keep_share=1.0)[0] == []


def test_ifd_filter_keeps_the_highest_ifd_share_by_default_as_the_reference_code():
    """KnowledgeSG's ifd_score.py sorts the aligned pairs by IFD and keeps the LAST sample_number:
    the highest IFD below 1 (Cherry LLM's choice), not the lowest."""
    items = items_of(list("abcdefg"))
    scores = [0.5, 1.0, 0.2, float("nan"), 1.3, 0.9, 0.2]
    kept, summary = ifd_filter(items, scores, keep_share=0.5)
    assert ids(kept) == ["i0", "i5"] and summary["misaligned"] == 3 and summary["ranked_out"] == 2
    assert ids(ifd_filter(items, scores, keep_share=1.0, max_kept=1)[0]) == ["i5"]  # the size cap
    with pytest.raises(ValueError, match="order"):
        ifd_filter(items, scores, keep_share=0.5, order="middle")


def test_pair_tfidf_cosine_fits_the_space_on_the_two_texts_alone():
    import math

    assert pair_tfidf_cosine("fever and cough", "fever and cough") == pytest.approx(1.0)
    assert pair_tfidf_cosine("fever cough", "stock bonds") == 0.0
    # two shared words of weight 1, one word of weight 1 + ln 1.5 in the first text only
    w = 1 + math.log(1.5)
    assert pair_tfidf_cosine("fever cough night", "fever cough") == pytest.approx(2 / math.sqrt(2 + w * w) / math.sqrt(2))
    assert math.isnan(pair_tfidf_cosine("a", "b"))  # no word token of 2+ characters


def test_prompt_dedup_compares_each_item_with_its_own_prompts_examples_only():
    """KnowledgeSG's code: an instruction is dropped when it is too close (> 0.52) to an example of
    the prompt that produced it; near-copies of each other, or of another prompt's examples, stay."""
    items = items_of(["what helps a fever and a cough at night", "what helps a fever and a cough at night",
                      "how should I invest my savings", "a"])
    examples = [["what helps a fever and a cough at night please"], ["how do bonds work"],
                ["what helps a fever and a cough at night please"], ["b"]]
    kept, summary = prompt_dedup(items, examples, threshold=0.52)
    assert ids(kept) == ["i1", "i2"]  # i0: near its own example; i3: no word to compare (dropped, as there)
    assert summary == {"kept": 2, "dropped": 2, "near_example": 2}
    with pytest.raises(ValueError, match="example lists"):
        prompt_dedup(items, examples[:2])


def test_ifd_filter_refuses_mismatched_scores():
    with pytest.raises(ValueError, match="3 items but 2 IFD scores"):
        ifd_filter(items_of(list("abc")), [0.1, 0.2], keep_share=1.0)
