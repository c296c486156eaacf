"""DP-SGD mechanics: per-record clipped gradients, record-level units, noise, frozen weights."""
from __future__ import annotations

import copy

import pytest
import pytorch_lightning as pl
import torch

from rewardds import chat
from rewardds.models.loading import add_lora
from rewardds.training.dp import DPSettings
from rewardds.training.lm import CausalLMModule, LengthGroupedBatches, LMCollator, item_length, token_losses
from rewardds.training.reward import PairCollator, PairDataset, RewardModule, encode_reward_text, reward_scores
from tests.helpers import LoraCfg, tiny_llama, tiny_tokenizer

QA = [("fever since two days?", "rest and drink water"), ("cough for two days", "see a doctor soon"),
      ("my savings earn little", "consider an index fund"), ("sum of a list", "def add(a, b): return a + b"),
      ("a headache at night", "reduce screen time and sleep more")]


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer()


def lm_examples(tok):
    return [chat.encode_example(tok, "medical", q, a, 64) for q, a in QA]


def trainable(model):
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def clipped_reference(model, per_record_loss, n_records, clip, expected_batch):
    """One record at a time: plain autograd, clip, sum, divide by the expected batch."""
    params = trainable(model)
    acc = {n: torch.zeros_like(p) for n, p in params.items()}
    for i in range(n_records):
        model.zero_grad()
        per_record_loss(i).backward()
        norm = torch.sqrt(sum((p.grad ** 2).sum() for p in params.values()))
        f = min(1.0, clip / (float(norm) + 1e-6))
        for n, p in params.items():
            acc[n] += f * p.grad
    return {n: g / expected_batch for n, g in acc.items()}


@pytest.mark.parametrize("physical", [8, 2])
@pytest.mark.parametrize("clip", [1e-3, 1e3])
@pytest.mark.parametrize("mode", ["hooks", "functorch", "ghost"])
def test_lm_dp_gradient_equals_one_record_at_a_time(tok, physical, clip, mode):
    model = add_lora(tiny_llama(tok), LoraCfg)
    for n, p in trainable(model).items():  # make LoRA B non-zero so every LoRA weight gets gradient
        if "lora_B" in n:
            torch.nn.init.normal_(p, std=0.05)
    ref = copy.deepcopy(model)
    ex = lm_examples(tok)
    dp = DPSettings(noise_multiplier=0.0, max_grad_norm=clip, sample_rate=0.5, num_records=10, physical_batch_size=physical,
                    grad_sample_mode=mode)
    module = CausalLMModule(model, lr=0.0, pad_id=tok.pad_token_id, dp=dp)
    module.configure_optimizers()
    module._dp_step(LMCollator(tok.pad_token_id)(ex))
    got = {n: p.grad for n, p in trainable(model).items()}
    col = LMCollator(tok.pad_token_id)
    want = clipped_reference(ref, lambda i: token_losses(ref, col([ex[i]])).sum(), len(ex), clip, dp.expected_batch_size)
    assert set(got) == set(want)
    for n in want:
        torch.testing.assert_close(got[n], want[n], rtol=1e-4, atol=1e-9)
    assert any(float(g.abs().max()) > 0 for g in got.values())


def reward_setup(tok):
    from transformers import LlamaForSequenceClassification

    lm = tiny_llama(tok)
    lm.config.num_labels = 1
    model = LlamaForSequenceClassification(lm.config)
    model.model.load_state_dict(lm.model.state_dict())
    model.config.pad_token_id = tok.pad_token_id
    model = add_lora(model, LoraCfg, task_type="SEQ_CLS")
    for n, p in trainable(model).items():
        if "lora_B" in n:
            torch.nn.init.normal_(p, std=0.05)
    enc = lambda q, a: encode_reward_text(tok, "medical", q, a, 64)  # noqa: E731
    # record 0 has three pairs, record 1 one pair, record 2 two pairs
    items = [[(enc(QA[0][0], QA[0][1]), enc(QA[0][0], "no")), (enc(QA[0][0], QA[0][1]), enc(QA[0][0], "maybe later")),
              (enc(QA[0][0], "maybe later"), enc(QA[0][0], "no"))],
             [(enc(QA[1][0], QA[1][1]), enc(QA[1][0], "ok"))],
             [(enc(QA[2][0], QA[2][1]), enc(QA[2][0], "buy lottery")), (enc(QA[2][0], "save"), enc(QA[2][0], "spend"))]]
    return model, items


@pytest.mark.parametrize("physical", [8, 1])
def test_reward_dp_clips_per_record_not_per_pair(tok, physical):
    model, items = reward_setup(tok)
    ref = copy.deepcopy(model)
    clip = 1e-3
    dp = DPSettings(noise_multiplier=0.0, max_grad_norm=clip, sample_rate=0.5, num_records=6, physical_batch_size=physical)
    module = RewardModule(model, lr=0.0, pad_id=tok.pad_token_id, dp=dp)
    module.configure_optimizers()
    col = PairCollator(tok.pad_token_id)
    module._dp_step(col(items))
    got = {n: p.grad for n, p in trainable(model).items()}
    rmod = RewardModule(ref, lr=0.0, pad_id=tok.pad_token_id)
    want = clipped_reference(ref, lambda i: rmod.record_losses(col([items[i]])).sum(), len(items), clip, dp.expected_batch_size)
    for n in want:
        torch.testing.assert_close(got[n], want[n], rtol=1e-4, atol=1e-10)
    # Pair-level clipping would give a different (larger) update: records 0 and 2 have several pairs.
    pair_items = [[p] for rec in items for p in rec]
    pair_level = clipped_reference(ref, lambda i: rmod.record_losses(col([pair_items[i]])).sum() * 1.0,
                                   len(pair_items), clip, dp.expected_batch_size)
    n0 = next(iter(want))
    assert not torch.allclose(pair_level[n0], want[n0], rtol=1e-3)


def test_reward_scores_ignore_padding(tok):
    model, items = reward_setup(tok)
    model.eval()
    col = PairCollator(tok.pad_token_id)
    batch = col(items)
    together = reward_scores(model, batch["input_ids"], batch["attention_mask"])
    alone = []
    for i in range(batch["input_ids"].shape[0]):
        n = int(batch["attention_mask"][i].sum())
        alone.append(float(reward_scores(model, batch["input_ids"][i:i + 1, :n], batch["attention_mask"][i:i + 1, :n])))
    torch.testing.assert_close(together, torch.tensor(alone), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mode", ["hooks", "functorch", "ghost"])
def test_empty_poisson_batch_still_releases_noise(tok, mode):
    model = add_lora(tiny_llama(tok), LoraCfg)
    before = {n: p.detach().clone() for n, p in trainable(model).items()}
    dp = DPSettings(noise_multiplier=1.0, max_grad_norm=1.0, sample_rate=0.1, num_records=20, physical_batch_size=4,
                    grad_sample_mode=mode)
    module = CausalLMModule(model, lr=0.1, pad_id=tok.pad_token_id, dp=dp)
    module.configure_optimizers()
    module._dp_step(LMCollator(tok.pad_token_id)([]))
    changed = [n for n, p in trainable(model).items() if not torch.equal(p, before[n])]
    assert changed, "an empty batch must still take a (pure-noise) step"


def test_dp_training_changes_lora_and_freezes_base(tok):
    from rewardds.training.lm import LMDataset, fit

    class T:  # trainer config
        accelerator, devices, precision, num_threads, deterministic = "cpu", 1, "32-true", None, False
        log_every_n_steps, enable_progress_bar = 1, False

    model = add_lora(tiny_llama(tok), LoraCfg)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    dp = DPSettings(noise_multiplier=0.5, max_grad_norm=1.0, sample_rate=0.5, num_records=5, physical_batch_size=2)
    module = CausalLMModule(model, lr=1e-2, pad_id=tok.pad_token_id, dp=dp)
    fit(module, LMDataset(lm_examples(tok)), batch_size=2, epochs=2, trainer_cfg=T, desc="test")
    assert module.steps_taken == 2 * int(1 / 0.5)  # exactly the steps the accountant is told about
    for n, p in model.named_parameters():
        if p.requires_grad:
            assert not torch.equal(p, before[n]), f"trainable {n} did not change"
        else:
            assert torch.equal(p, before[n]), f"frozen {n} changed"
    assert module._gsm is None  # hooks removed after training: the saved model is a plain peft model


def test_ghost_refused_for_multi_row_records(tok):
    from rewardds.errors import ConfigError

    model, _ = reward_setup(tok)
    dp = DPSettings(noise_multiplier=1.0, max_grad_norm=1.0, sample_rate=0.5, num_records=6, physical_batch_size=8,
                    grad_sample_mode="ghost")
    module = RewardModule(model, lr=0.0, pad_id=tok.pad_token_id, dp=dp)
    with pytest.raises(ConfigError, match="ghost"):
        module.configure_optimizers()


@pytest.mark.parametrize("kind", ["lm", "reward"])
def test_bf16_base_keeps_dp_state_fp32_and_every_clipped_norm_within_c(tok, kind):
    """trainer=gpu runs bf16-true; clipping, summing and noising in bf16 let a clipped
    per-record norm exceed C (measured 1.0034 C), so epsilon was under-reported."""
    from rewardds.training.lm import LMDataset, fit

    class T:  # the GPU trainer's precision, on CPU
        accelerator, devices, precision, num_threads, deterministic = "cpu", 1, "bf16-true", None, False
        log_every_n_steps, enable_progress_bar = 1, False

    clip = 1e-2  # far below the raw gradient norms: every record is clipped
    if kind == "lm":
        model = add_lora(tiny_llama(tok).to(torch.bfloat16), LoraCfg)
        data, collate = LMDataset(lm_examples(tok)[:1]), None
        module_cls = CausalLMModule
    else:
        model, items = reward_setup(tok)
        model.to(torch.bfloat16)
        data, collate = [items[0]], PairCollator(tok.pad_token_id)
        module_cls = RewardModule
    dp = DPSettings(noise_multiplier=0.0, max_grad_norm=clip, sample_rate=1.0, num_records=1, physical_batch_size=1)
    module = module_cls(model, lr=1e-3, pad_id=tok.pad_token_id, dp=dp)
    norms, dtypes = [], set()

    class Probe(pl.Callback):  # one record per step: summed_grad is that record's clipped gradient
        def on_train_batch_end(self, trainer, pl_module, *args):
            params = pl_module.trainable_parameters()
            dtypes.update(str(p.summed_grad.dtype) for p in params)
            dtypes.update(str(p.dtype) for p in params)
            norms.append(float(torch.sqrt(sum((p.summed_grad.double() ** 2).sum() for p in params))))

    fit(module, data, batch_size=1, epochs=4, trainer_cfg=T, desc="bf16", collate=collate, callbacks=[Probe()])
    assert dtypes == {"torch.float32"}
    assert len(norms) == 4 and all(n <= clip * (1 + 1e-6) for n in norms), norms
    assert any(p.dtype == torch.bfloat16 for p in model.parameters() if not p.requires_grad)  # base stays bf16


def _first_dropout_masks(tok, dp, seed: int = 0) -> list[torch.Tensor]:
    """Fit a LoRA model with dropout 0.5 for one step through the real ``fit`` and return the
    dropout masks of its first training forward (which activations each LoRA dropout zeroed)."""
    from types import SimpleNamespace

    from rewardds.training.lm import LMDataset, fit

    class T:  # trainer config
        accelerator, devices, precision, num_threads, deterministic = "cpu", 1, "32-true", None, False
        log_every_n_steps, enable_progress_bar = 1, False

    lora = SimpleNamespace(r=4, alpha=8, dropout=0.5, target_modules=["q_proj", "v_proj"])
    model = add_lora(tiny_llama(tok), lora, seed=0)
    masks: list[torch.Tensor] = []

    def record(mod, args, out):
        if mod.training and len(masks) < 4:
            masks.append((out == 0) & (args[0] != 0))

    drops = [m for m in model.modules() if isinstance(m, torch.nn.Dropout) and m.p > 0]
    assert drops, "the LoRA layers carry dropout"
    for m in drops:
        m.register_forward_hook(record)
    module = CausalLMModule(model, lr=1e-2, pad_id=tok.pad_token_id, dp=dp)
    fit(module, LMDataset(lm_examples(tok)), batch_size=len(QA), epochs=1, trainer_cfg=T, desc="dropout", seed=seed)
    assert masks and any(bool(m.any()) for m in masks)
    return masks


def test_dropout_masks_of_dp_fits_are_secret_not_seeded_by_the_public_seed(tok):
    """Dropout in a DP fit (model=qwen2.5: LoRA dropout 0.05) must not come from pl.seed_everything(seed):
    with a generator consumed in sequence, which mask a record gets depends on the other records
    drawn before it, and the seed is public. Two DP fits with the same seed draw different masks;
    non-DP fits and dp.reproducible_noise fits stay bit-reproducible."""
    every_record = dict(max_grad_norm=1.0, sample_rate=1.0, num_records=len(QA), physical_batch_size=len(QA))
    secure = DPSettings(noise_multiplier=1.0, **every_record)  # q = 1: every step has the same records
    a, b = _first_dropout_masks(tok, secure), _first_dropout_masks(tok, secure)
    assert any(not torch.equal(x, y) for x, y in zip(a, b)), "two DP fits with the same public seed dropped the same units"
    plain = [_first_dropout_masks(tok, None) for _ in range(2)]
    assert all(torch.equal(x, y) for x, y in zip(*plain))
    reproducible = DPSettings(noise_multiplier=1.0, reproducible_seed=5, **every_record)
    rep = [_first_dropout_masks(tok, reproducible) for _ in range(2)]
    assert all(torch.equal(x, y) for x, y in zip(*rep))


def test_length_grouped_batches_read_every_item_kind():
    """Non-DP fits batch by length: LM rows, a record's rows and a reward record's (chosen, rejected) pairs
    (the reward proxy's non-DP fit read a pair as a row and stopped with a TypeError)."""
    assert item_length({"input_ids": [1, 2, 3]}) == 3
    assert item_length([{"input_ids": [1, 2]}, {"input_ids": [3]}]) == 3
    pairs = PairDataset([[([1, 2, 3], [4, 5])], [], [([1] * 7, [2] * 2), ([1] * 7, [3])]])
    assert [item_length(pairs[i]) for i in range(len(pairs))] == [5, 0, 17]
    batches = list(LengthGroupedBatches(pairs, batch_size=2, seed=0))
    assert sorted(i for b in batches for i in b) == [0, 1, 2]
