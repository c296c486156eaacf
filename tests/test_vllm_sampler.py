"""The vLLM backend against the HF backend on a tiny Llama built here (no downloads).

Needs the engine (`make vllm`). Skipped when `import vllm` fails, except in CI
(`CI=true`), where a missing engine is an error. Engines start once per module
(~20-25 s each on CPU): one for the base model, one for base + LoRA served
natively, one for the merged fallback.
"""
from __future__ import annotations

import os
import time
from types import SimpleNamespace

import pytest

try:
    import vllm  # noqa: F401
except Exception as e:  # noqa: BLE001
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"CI must test the real vLLM engine, but `import vllm` failed: {e!r} (run `make vllm`)")
    pytest.skip(f"vllm not importable ({e}); run `make vllm`", allow_module_level=True)

import torch

from rewardds import chat
from rewardds.models.loading import add_lora
from rewardds.models.tiny import build_model, train_tokenizer
from rewardds.sampling.base import SamplingParams
from rewardds.sampling.hf import HFSampler
from rewardds.sampling.vllm import VLLMSampler, merge_adapter, merged_cache_key

pytestmark = pytest.mark.vllm

TEXT = """
A mild fever with a dry cough often comes from a common cold. Rest, drink plenty of water and eat light food.
See a doctor when the fever stays above three days, when breathing becomes hard, or when chest pain appears.
Children and older adults should be checked sooner. Wash your hands often and keep a distance from others.
Headaches can follow poor sleep, stress, long screen time or too little water. A short walk may help.
High blood pressure needs regular checks, less salt, more vegetables and, if prescribed, daily medicine.
A savings account is safe but the interest rate is often lower than inflation over many years.
For long term goals consider a diversified index fund with low fees and invest a fixed amount each month.
Keep an emergency fund of three to six months of expenses before you buy shares or bonds.
Pay off credit card debt first because its interest is usually higher than any investment return.
A budget lists income, rent, food, transport and savings so you know where the money goes.
Write a Python function that returns the sum of a list of numbers. Use a loop or the built in sum.
A function that reverses a string can use slicing with a negative step. Test it with an empty string.
To count words in a sentence, split the text on spaces and return the length of the resulting list.
Sorting a dictionary by value needs the sorted function with a key that reads the second item.
Good code has clear names, small functions, tests for edge cases and comments where the logic is subtle.
"""

QA = [
    ("I have a mild fever and a dry cough. What should I do?",
     "Rest, drink plenty of water and see a doctor if the fever stays above three days."),
    ("When should a child with fever see a doctor?", "Children should be checked sooner, especially with chest pain."),
    ("Why do I get headaches at work?", "Poor sleep, stress, long screen time or too little water. Take a short walk."),
    ("How can I lower my blood pressure?", "Eat less salt, more vegetables and take prescribed medicine daily."),
    ("Is a savings account a good investment?", "It is safe but the interest is often lower than inflation."),
    ("How should I invest for the long term?", "Consider a diversified index fund with low fees each month."),
    ("What comes before buying shares?", "Keep an emergency fund of three to six months of expenses."),
    ("Should I pay debt or invest?", "Pay off credit card debt first because its interest is higher."),
    ("How do I make a budget?", "List income, rent, food, transport and savings."),
    ("Write a function that sums a list.", "def total(xs): return sum(xs)"),
    ("How do I reverse a string in Python?", "Use slicing with a negative step: s[::-1]."),
    ("How do I count words in a sentence?", "Split the text on spaces and return the length of the list."),
    ("How do I sort a dictionary by value?", "Use sorted with a key that reads the second item."),
    ("What makes code good?", "Clear names, small functions and tests for edge cases."),
]

# 16 prompts: the training questions plus two unseen ones.
QUESTIONS = [q for q, _ in QA] + ["What should I eat with a cold?", "How do I test a function?"]
TASK = "medical"


def _train(model, tokenizer, steps: int = 60, lr: float = 1e-2, seed: int = 0):
    """A few steps on the chat-formatted QA pairs: peaked next-token distributions (few float
    near-ties between backends) and answers that end on EOS."""
    torch.manual_seed(seed)
    examples = [chat.encode_example(tokenizer, TASK, q, a, 160, loss_on="all")["input_ids"] for q, a in QA]
    width = max(map(len, examples))
    pad = tokenizer.pad_token_id
    ids = torch.tensor([e + [pad] * (width - len(e)) for e in examples])
    labels = torch.tensor([e + [-100] * (width - len(e)) for e in examples])
    mask = (labels != -100).long()
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return loss.item()


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("vllm_tiny")
    words = TEXT.split()
    corpus = [TEXT] + [" ".join(words[i:i + 12]) for i in range(0, len(words), 6)] + [q + " " + a for q, a in QA]
    corpus.append(chat.system_message(TASK))
    tok = train_tokenizer(corpus, 512)
    # head_dim 32: vLLM's CPU attention needs head sizes >= 32.
    cfg = SimpleNamespace(vocab_size=512, hidden_size=64, num_layers=2, num_heads=2, intermediate_size=128,
                          max_position=512, seed=0)
    model = build_model(tok, cfg)
    loss = _train(model, tok)
    base = root / "base"
    model.save_pretrained(base)
    tok.save_pretrained(base)

    lora_cfg = SimpleNamespace(r=8, alpha=16, dropout=0.0, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
    peft_model = add_lora(model, lora_cfg)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:  # peft initialises B to zero: make the adapter change outputs
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    adapter = root / "adapter"
    peft_model.save_pretrained(adapter)
    print(f"tiny model: vocab {len(tok)}, train loss {loss:.3f}")
    return SimpleNamespace(base=str(base), adapter=str(adapter), tokenizer=tok, root=root)


@pytest.fixture(scope="module")
def prompts(tiny_dirs):
    return [chat.render_prompt(tiny_dirs.tokenizer, TASK, q) for q in QUESTIONS]


@pytest.fixture(scope="module", autouse=True)
def _vllm_cpu_env():
    """Small, explicit KV cache on CPU (skips vLLM's memory probe run); restored afterwards."""
    keys = {"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_NO_USAGE_STATS": "1", "VLLM_DO_NOT_TRACK": "1"}
    old = {k: os.environ.get(k) for k in keys}
    if not torch.cuda.is_available():
        os.environ.update(keys)
    yield
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


GREEDY = SamplingParams(n=1, temperature=0.0, max_new_tokens=24)
SAMPLED = SamplingParams(n=4, temperature=1.5, top_p=1.0, max_new_tokens=12, seed=7)
# enforce_eager: no torch.compile on CPU (saves ~60 s per engine start)
ENGINE = dict(batch_size=64, max_model_len=256, max_lora_rank=8, enforce_eager=True)


def _hf(model_dir, adapter, prompts):
    with HFSampler(model_dir, adapter, batch_size=16) as s:
        return s.generate(prompts, GREEDY)


def _private_draws(sampler, prompts) -> tuple[int, float]:
    """(redraws of the progress line, seconds) of sampling ``prompts`` as private prompts (counts=False)."""
    import contextlib
    import io

    buf, old = io.StringIO(), os.environ.pop("REWARDDS_NO_BAR", None)
    try:
        t0 = time.perf_counter()
        with contextlib.redirect_stderr(buf):
            sampler.generate(prompts, SAMPLED, desc="private prompts", counts=False)
        return buf.getvalue().count("\r"), time.perf_counter() - t0
    finally:
        if old is not None:
            os.environ["REWARDDS_NO_BAR"] = old


def _run_vllm(model_dir, adapter, prompts, **extra):
    """Start one engine, collect everything the tests need, close it (so engines never overlap)."""
    import psutil

    t0 = time.perf_counter()
    s = VLLMSampler(model_dir, adapter, **ENGINE, **extra)
    startup = time.perf_counter() - t0
    out = SimpleNamespace(startup=startup, lora_path=s.lora_path, served=s.served_model_dir)
    out.greedy = s.generate(prompts, GREEDY)
    out.greedy_n3 = s.generate(prompts[:2], SamplingParams(n=3, temperature=0.0, max_new_tokens=8))
    out.sampled = s.generate(prompts, SAMPLED)
    out.sampled_again = s.generate(prompts, SAMPLED)
    # 64 seeded prompts (> one engine step's token budget): regression test for the CPU worker crash
    # on split prefills of seeded requests; duplicates must still get their own samples.
    out.sampled_dup = s.generate(prompts * 4, SAMPLED)
    out.stats = dict(s.stats)
    out.tok_s = s.tokens_per_second
    # per-record seeds (GFRIEND's private requests): two prompts per "record", then the same without record 0
    seeds = [1_000_003 * (i // 2) + 17 for i in range(len(prompts))]
    out.grouped = s.generate(prompts, SAMPLED, counts=False, seeds=seeds)
    out.grouped_rest = s.generate(prompts[2:], SAMPLED, counts=False, seeds=seeds[2:])
    out.private_draws = [_private_draws(s, ps) for ps in (prompts[:1], prompts * 2)]
    pids = set(s._engine_pids)
    s.close()
    out.engine_pids = pids
    out.alive_after_close = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
    print(f"vLLM engine ({out.lora_path or 'no adapter'}): start {startup:.1f} s, {out.tok_s:.0f} tok/s")
    return out


@pytest.fixture(scope="module")
def vllm_base(tiny_dirs, prompts):
    return _run_vllm(tiny_dirs.base, None, prompts)


@pytest.fixture(scope="module")
def vllm_lora(tiny_dirs, prompts, vllm_base):  # after vllm_base: one engine at a time
    return _run_vllm(tiny_dirs.base, tiny_dirs.adapter, prompts)


@pytest.fixture(scope="module")
def vllm_merged(tiny_dirs, prompts, vllm_lora):
    return _run_vllm(tiny_dirs.base, tiny_dirs.adapter, prompts, lora_mode="merge",
                     merge_cache_dir=str(tiny_dirs.root / "merged"))


@pytest.fixture(scope="module")
def hf_base(tiny_dirs, prompts):
    return _hf(tiny_dirs.base, None, prompts)


@pytest.fixture(scope="module")
def hf_lora(tiny_dirs, prompts):
    return _hf(tiny_dirs.base, tiny_dirs.adapter, prompts)


def _mismatches(a, b):
    return [i for i, (x, y) in enumerate(zip(a, b)) if x[0] != y[0]]


def test_adapter_changes_outputs(vllm_base, vllm_lora, hf_base, hf_lora):
    assert vllm_lora.lora_path == "native"  # served through LoRARequest on this platform (CPU or GPU)
    same_vllm = sum(x[0].text == y[0].text for x, y in zip(vllm_base.greedy, vllm_lora.greedy))
    same_hf = sum(x[0].text == y[0].text for x, y in zip(hf_base, hf_lora))
    print(f"identical greedy texts with/without adapter: vLLM {same_vllm}/16, HF {same_hf}/16")
    assert same_vllm <= 4 and same_hf <= 4


@pytest.mark.parametrize("variant", ["base", "lora", "merged"])
def test_greedy_matches_hf(variant, request):
    v = request.getfixturevalue({"base": "vllm_base", "lora": "vllm_lora", "merged": "vllm_merged"}[variant])
    hf = request.getfixturevalue("hf_base" if variant == "base" else "hf_lora")
    bad = _mismatches(v.greedy, hf)
    print(f"greedy HF vs vLLM ({variant}): {len(bad)}/{len(hf)} prompts differ")
    for i in bad:
        print(f"  prompt {i}:\n    hf:   {hf[i][0]}\n    vllm: {v.greedy[i][0]}")
    assert len(bad) <= 1  # <= ~6%: only float near-ties may flip an argmax
    # Where texts agree, the structure agrees too.
    for i, (x, y) in enumerate(zip(v.greedy, hf)):
        if i not in bad:
            assert (x[0].finished, x[0].num_tokens) == (y[0].finished, y[0].num_tokens)
    assert any(c[0].finished for c in hf), "the trained tiny model should end some answers on EOS"


def test_merged_fallback_caches_atomically(tiny_dirs, vllm_merged):
    assert vllm_merged.lora_path == "merged"
    key = merged_cache_key(tiny_dirs.base, tiny_dirs.adapter)
    cache = tiny_dirs.root / "merged"
    assert vllm_merged.served == str(cache / key)
    assert [p.name for p in cache.iterdir()] == [key]  # no temp folder left behind
    t0 = time.perf_counter()
    assert merge_adapter(tiny_dirs.base, tiny_dirs.adapter, cache) == cache / key  # cache hit: no re-merge
    assert time.perf_counter() - t0 < 1.0


def test_greedy_n_copies(vllm_base):
    for comps, single in zip(vllm_base.greedy_n3, vllm_base.greedy[:2]):
        assert len(comps) == 3 and len(set(comps)) == 1
        assert comps[0].num_tokens <= 8
        assert single[0].text.startswith(comps[0].text[:5])


@pytest.mark.parametrize("variant", ["base", "lora"])
def test_sampling(variant, request):
    v = request.getfixturevalue({"base": "vllm_base", "lora": "vllm_lora"}[variant])
    eos = "<|end|>"
    assert len(v.sampled) == len(QUESTIONS)
    distinct = 0
    for comps in v.sampled:
        assert len(comps) == SAMPLED.n
        for c in comps:
            assert 1 <= c.num_tokens <= SAMPLED.max_new_tokens
            assert c.finished or c.num_tokens == SAMPLED.max_new_tokens  # unfinished means it hit the cap
            assert eos not in c.text and c.text == c.text.strip()
        distinct += len({c.text for c in comps}) > 1
    print(f"sampling ({variant}): {distinct}/{len(QUESTIONS)} prompts with differing samples")
    assert distinct >= len(QUESTIONS) // 4  # the n samples of a prompt are not copies
    assert v.sampled == v.sampled_again  # seeded: reproducible
    k = len(QUESTIONS)
    differ = sum(v.sampled_dup[i] != v.sampled_dup[i + k] for i in range(k))
    assert differ >= 1, "duplicate prompts in one call got identical samples"
    # Seeds follow the prompt's position, not the engine's batching: the first k prompts of the
    # bigger call draw the same samples (up to float near-ties from different batch shapes).
    same = sum(a == b for a, b in zip(v.sampled_dup[:k], v.sampled))
    print(f"sampling ({variant}): {differ}/{k} duplicates differ, {same}/{k} reproduced inside a bigger batch")
    assert same >= k // 2


@pytest.mark.parametrize("variant", ["base", "lora"])
def test_per_record_seeds_do_not_depend_on_the_other_records(variant, request):
    """seeds=: a record's samples follow its own seed, not its position: without record 0 (its two
    prompts) every other record draws what it drew before (up to float near-ties of other batch shapes).
    Position-based seeds shift with the removal and change nearly all of them."""
    v = request.getfixturevalue({"base": "vllm_base", "lora": "vllm_lora"}[variant])
    k = len(QUESTIONS) - 2
    same = sum(a == b for a, b in zip(v.grouped[2:], v.grouped_rest))
    print(f"per-record seeds ({variant}): {same}/{k} prompts drew the same samples without record 0")
    assert same >= k - 2
    assert sum(a != b for a, b in zip(v.grouped, v.sampled)) >= len(QUESTIONS) // 2  # the seeds were used


def test_private_prompt_progress_is_not_redrawn_per_request(vllm_base):
    """counts=False: no vLLM bar (it redraws on every finished request), a line on a clock instead."""
    (one, _), (many, seconds) = vllm_base.private_draws
    assert many <= one + 1 + seconds / 2.0, (one, many, seconds)


def test_stats_and_close(vllm_base, vllm_lora):
    for v in (vllm_base, vllm_lora):
        n_prompts = 7 * len(QUESTIONS) + 2
        assert v.stats["prompts"] == n_prompts
        counted = sum(c.num_tokens for r in v.greedy + v.sampled + v.sampled_again + v.sampled_dup for c in r) \
            + sum(r[0].num_tokens for r in v.greedy_n3)
        assert v.stats["generated_tokens"] == counted
        assert v.stats["seconds"] > 0 and v.tok_s > 0
        assert v.engine_pids, "the engine runs in worker processes"
        assert v.alive_after_close == []


def test_unsupported_adapter_is_detected(tiny_dirs, tmp_path):
    """Adapters vLLM cannot serve (here DoRA) take the merge path without starting an engine first."""
    import json
    import shutil

    from rewardds.sampling.vllm import lora_unsupported_reason

    assert lora_unsupported_reason(tiny_dirs.base, tiny_dirs.adapter, 8) is None
    dora = tmp_path / "dora"
    shutil.copytree(tiny_dirs.adapter, dora)
    cfg = json.loads((dora / "adapter_config.json").read_text())
    cfg["use_dora"] = True
    (dora / "adapter_config.json").write_text(json.dumps(cfg))
    assert "DoRA" in lora_unsupported_reason(tiny_dirs.base, dora, 8)


# --------------------------------------------------------------------------- dtype


def test_engine_loads_the_configured_dtype_of_a_qwen2_standin(tmp_path):
    """build_sampler hands the base folder's ``model.<which>.dtype`` to the engine: a bf16 Qwen2
    stand-in (rewardds.models.standin: its own tokenizer and chat template) runs in bf16."""
    from rewardds.models.loading import with_dtype
    from rewardds.models.standin import write_standin
    from rewardds.sampling import build_sampler

    folder = write_standin(tmp_path / "qwen2", "qwen2", dtype="float32")  # on disk fp32: the config decides
    cfg = {"backend": "vllm", **ENGINE}
    with build_sampler(cfg, with_dtype(folder, "bfloat16")) as s:
        assert s.llm.llm_engine.model_config.dtype == torch.bfloat16
        assert s.stats["dtype"] == "bfloat16"
        prompts = [chat.render_prompt(s.tokenizer, TASK, q) for q in QUESTIONS[:4]]
        out = s.generate(prompts, SamplingParams(n=1, temperature=0.0, max_new_tokens=6))
    assert [len(o) for o in out] == [1] * 4 and all(o[0].num_tokens >= 1 for o in out)
