"""The HF backend's compacting decode loop samples as ``model.generate`` does, at a cost of the
tokens it writes (a sequence leaves its batch at its end token)."""
import pytest
import torch

from rewardds.errors import ConfigError
from rewardds.sampling import SamplingParams, compact
from rewardds.sampling.hf import HFSampler
from tests.helpers import tiny_llama, tiny_tokenizer

PROMPTS = ["the patient has a mild fever", "my savings account earns little", "write a function that returns",
           "take rest drink water and see a doctor if the fever persists", "def add(a, b):", "consider a"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A tiny Llama trained for a few steps on the helpers' corpus, so that it ends some rows early."""
    from tests.helpers import CORPUS

    tok = tiny_tokenizer()
    model = tiny_llama(tok, hidden=32, layers=2, seed=3)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    batch = tok([t + tok.eos_token for t in CORPUS[:6]], return_tensors="pt", padding=True, add_special_tokens=False)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    for _ in range(15):
        loss = model(**batch, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    folder = tmp_path_factory.mktemp("model")
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def _run(folder, decode, params, batch_size=4):
    with HFSampler(folder, batch_size=batch_size, decode=decode) as s:
        assert s.compacting is (decode == "compact")
        return [[(c.text, c.finished, c.num_tokens) for c in comps] for comps in s.generate(PROMPTS, params)]


def test_greedy_decoding_equals_generate(model_dir):
    params = SamplingParams(n=1, temperature=0.0, max_new_tokens=24)
    got = _run(model_dir, "compact", params)
    assert got == _run(model_dir, "generate", params)
    assert any(f for comps in got for _, f, _ in comps) and not all(f for comps in got for _, f, _ in comps)


def test_sampling_draws_what_generate_draws(model_dir):
    """With one sequence per batch nothing is compacted, so the same seed must give the same tokens:
    the same warpers (temperature, top-p) and the same multinomial draws as ``generate``."""
    params = SamplingParams(n=3, temperature=1.5, top_p=0.95, max_new_tokens=16, seed=11)
    got = _run(model_dir, "compact", params, batch_size=1)
    assert got == _run(model_dir, "generate", params, batch_size=1)
    assert len({t for comps in got for t, _, _ in comps}) > len(PROMPTS)  # it samples


def test_compacted_batches_are_reproducible_and_respect_the_budget(model_dir):
    params = SamplingParams(n=4, temperature=1.0, top_p=0.9, max_new_tokens=10, seed=5)
    first = _run(model_dir, "compact", params, batch_size=8)
    assert first == _run(model_dir, "compact", params, batch_size=8)
    for comps in first:
        assert len(comps) == 4
        for _, finished, n in comps:
            assert 1 <= n <= 10 and (finished or n == 10)


def test_a_model_whose_defaults_add_a_logits_processor_uses_generate(model_dir, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    assert compact.supported(model)
    model.generation_config.repetition_penalty = 1.2
    assert not compact.supported(model)
    model.save_pretrained(tmp_path)
    AutoTokenizer.from_pretrained(model_dir).save_pretrained(tmp_path)
    with HFSampler(tmp_path, decode="compact") as s:
        assert not s.compacting


def test_an_unknown_decoder_is_a_config_error(model_dir):
    with pytest.raises(ConfigError, match="sampler.decode"):
        HFSampler(model_dir, decode="beam")
