"""PII reconstruction attack (rewardds.eval.pii) and name substitution (rewardds.data.names).

The attack must be near chance (1/64) on a model that never saw the records and
far above it on one fine-tuned on them without DP; the name substitution of real
data must replace every detected name, consistently, and keep its map off disk.
"""
from __future__ import annotations

import json
import random
from pathlib import Path
from types import SimpleNamespace

import pytest

from rewardds.config import DataConfig, TaskConfig, TinyConfig, TrainerConfig
from rewardds.data import load_task_data
from rewardds.data.names import demo_pool, detect_names, faker_pool, substitute_names
from rewardds.eval.pii import MASK, PIIItem, attack_success, evaluate_pii, pii_targets
from rewardds.records import Record
from tests.conftest import shared_data

MAX_LENGTH = 256  # the tiny model's default (conf/model/tiny.yaml): the whole demo record is in view
LM = {"dtype": "float32", "max_length": MAX_LENGTH}


def demo(task="medical", **data):
    return load_task_data(TaskConfig(name=task, data=DataConfig(**data)))


# ------------------------------------------------------------------ attack items


@pytest.mark.parametrize("task", ["medical", "financial"])
def test_every_demo_private_record_is_a_target_with_its_planted_name(task):
    private = demo(task).private
    items = pii_targets(private, seed=0, max_records=None)
    pool = demo_pool()
    by_id = {r.id: r for r in private}
    assert len(items) == len(private) == 1000  # make_demo COUNTS["private"]
    for it in items:
        original = by_id[it.id]
        assert it.target in pool and it.target in original.question  # a generator name, exactly
        assert it.target not in it.question and MASK in it.question
        assert it.fill(it.target) == (original.question, original.answer)


def test_candidates_hold_the_true_name_once_from_the_same_pool():
    items = pii_targets(demo().private, seed=3, num_candidates=64, max_records=40)
    assert len(items) == 40
    pool = demo_pool()
    for it in items:
        assert len(it.candidates) == 64 == len(set(it.candidates))
        assert it.candidates.count(it.target) == 1
        assert all(c in pool for c in it.candidates)
    assert len({it.target_index for it in items}) > 10  # the true name's position is shuffled


def test_targets_are_deterministic_by_seed():
    private = demo().private
    a, b = pii_targets(private, seed=1, max_records=20), pii_targets(private, seed=1, max_records=20)
    c = pii_targets(private, seed=2, max_records=20)
    assert a == b
    assert [it.candidates for it in a] != [it.candidates for it in c]
    assert [it.id for it in a] != [it.id for it in c]  # max_records draws a seeded subset


def test_records_without_a_known_name_are_no_targets():
    recs = [Record("x", "I have a cough, what should I do?", "Rest and drink water."),
            Record("y", "This is Marcus Rasmussen, 33 years old. I cough.", "Rest, Marcus Rasmussen.")]
    items = pii_targets(recs, seed=0)
    assert [it.id for it in items] == ["y"]
    assert "Marcus" not in items[0].question + items[0].answer and "Rasmussen" not in items[0].answer
    assert pii_targets(demo("code").public, seed=0) == []  # the public utilities name nobody


def test_other_names_and_name_parts_are_masked():
    rec = Record("z", "My name is Elena Marsh, my sister Noor Holloway says hi. Elena again.", "Dear Marsh, rest.")
    (it,) = pii_targets([rec], seed=0)
    other = ({"Elena Marsh", "Noor Holloway"} - {it.target}).pop()
    text = it.question + it.answer
    for word in it.target.split() + other.split():
        assert word not in text
    assert other not in it.fill(it.candidates[0])[0]
    assert other not in it.candidates


def test_attack_success_counts_ties_as_a_fair_guess():
    item = PIIItem("i", MASK, "", "b c", ("a b", "b c", "c d", "d e"))
    assert attack_success([item], [[2.0, 1.0, 3.0, 4.0]]) == [1.0]
    assert attack_success([item], [[1.0, 2.0, 3.0, 4.0]]) == [0.0]
    assert attack_success([item], [[1.0, 1.0, 1.0, 1.0]]) == [0.25]


# ------------------------------------------------------------- the attack itself


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory) -> Path:
    """The smoke-sized embedded base model, pretrained on the public demo corpus only."""
    from rewardds.models.tiny import pretrain_tiny

    out = tmp_path_factory.mktemp("pii-base") / "model"
    tiny = TinyConfig(vocab_size=512, hidden_size=64, intermediate_size=128, pretrain_steps=60)
    return pretrain_tiny("medical", demo().public, tiny, MAX_LENGTH, out, TrainerConfig(enable_progress_bar=False))


def finetune_without_dp(base: Path, records, out: Path, epochs: int) -> Path:
    """rewardds' own LoRA fine-tuning path (as the finetune block runs it), without DP,
    the loss on the whole text (``loss_on=all``, as ``gen_proxy.loss_on=all`` trains)."""
    from rewardds import chat
    from rewardds.models.loading import add_lora, load_causal_lm, load_tokenizer, save_adapter
    from rewardds.training.lm import CausalLMModule, LMDataset, fit

    tok = load_tokenizer(base)
    model = add_lora(load_causal_lm(base), SimpleNamespace(r=8, alpha=16, dropout=0.0,
                                                          target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]),
                     seed=0)
    data = LMDataset([chat.encode_example(tok, "medical", r.question, r.answer, MAX_LENGTH, "all") for r in records])
    module = CausalLMModule(model, lr=LR, pad_id=tok.pad_token_id, seed=0)
    fit(module, data, batch_size=8, epochs=epochs, trainer_cfg=TrainerConfig(enable_progress_bar=False),
        desc="pii-test", seed=0)
    save_adapter(model, out)
    return out


@pytest.fixture(scope="module")
def private_split():
    private = demo().private
    return private[:16], private[16:24]  # trained on, never seen (a cheaper control)


def test_attack_is_near_chance_on_a_model_that_never_saw_the_records(tiny_base, private_split):
    seen, _ = private_split
    res = evaluate_pii(LM, tiny_base, None, seen, seed=0, task="medical")
    print(f"\nPII attack, base model: {res}")
    assert res["n"] == 16 and res["random_rate"] == pytest.approx(1 / 64)
    assert res["lift"] == pytest.approx(res["success_rate"] - 1 / 64)
    assert res["success_rate"] <= 0.2


def test_attack_recovers_names_from_a_model_trained_on_them_without_dp(tiny_base, private_split, tmp_path):
    seen, unseen = private_split
    adapter = finetune_without_dp(tiny_base, seen, tmp_path / "adapter", epochs=EPOCHS)
    res = evaluate_pii(LM, tiny_base, adapter, seen, seed=0, task="medical")
    control = evaluate_pii(LM, tiny_base, adapter, unseen, seed=0, task="medical")
    print(f"\nPII attack, non-DP fine-tuned model: trained-on records {res}, unseen records {control}")
    assert res["success_rate"] >= THRESHOLD
    assert control["success_rate"] <= 0.25  # memorisation of the records, not a prior over names


# Smoke-sized memorisation: 30 epochs at lr 1e-2 of 16 records reach a success rate of 1.0 (16/16)
# where the threshold asks for 0.5; 20 epochs at the tiny default lr 3e-3 are not enough to memorise.
EPOCHS = 60  # 30 reached 0.31 once the base learnt only its requests' replies (952d5cf)
LR = 1e-2
THRESHOLD = 0.5


# ------------------------------------------------------------- name substitution


def test_substitution_replaces_every_detected_name_consistently():
    recs = [
        Record("a", "Hi Dr. Rynne, my name is Zubair Qasim and I am Suffering from a cough. Thanks, Zubair.",
               "Hello Zubair, I am Dr. Lopez. Regards, Dr Lopez"),
        Record("b", "I have a cough and I am having pain.", "Rest, this is common."),
        Record("c", "Sir, this is Sayanti, 23 years old.", "Dear Sayanti, please rest."),
    ]
    out, name_map = substitute_names(recs, seed=0)
    assert out[1] is recs[1] and "b" not in name_map  # nothing detected: unchanged, no PII target
    a, c = out[0], out[2]
    for word in ("Rynne", "Zubair", "Qasim", "Lopez"):
        assert word not in a.question + a.answer
    assert "Sayanti" not in c.question + c.answer
    assert "Suffering" in a.question  # an ordinary word after "I am" is no name
    pairs = dict(name_map.pairs("a"))
    new = pairs["Zubair Qasim"]
    assert new in faker_pool() and new in a.question
    first = new.split()[0]
    assert a.question.count(first) == 2 and f"Hello {first}," in a.answer  # the same person, the same name
    assert a.answer.count(f"Dr. {pairs['Lopez']}") == 1 and a.answer.endswith(f"Dr {pairs['Lopez']}")
    # the substituted records are PII targets with exactly the generated names
    items = {it.id: it for it in pii_targets(out, seed=0)}
    assert items["a"].target == new and items["c"].target == dict(name_map.pairs("c"))["Sayanti"]
    assert substitute_names(recs, seed=0)[0] == out and substitute_names(recs, seed=1)[0] != out


def test_name_map_shows_no_name():
    out, name_map = substitute_names([Record("a", "My name is Zubair Qasim.", "Hello Zubair.")], seed=0)
    assert "Zubair" not in repr(name_map) and "Zubair" not in str(name_map)
    with pytest.raises(TypeError):
        json.dumps(name_map)


@pytest.mark.parametrize("task", ["medical", "financial"])
def test_substitution_finds_every_planted_demo_name(task):
    """The demo's self-introductions ("This is", "My name is", "I'm", "... here") are all detected."""
    private = demo(task).private
    pool = demo_pool()
    out, name_map = substitute_names(private, seed=0)
    assert len(name_map) == len(private)
    for r in out:
        assert pool.find(r.question + r.answer) == []  # no planted name left
        assert len(faker_pool().find(r.question)) == 1


def test_detection_rule():
    names = [d.words for d in detect_names("My name is Anna. Dr. Please help. I am Indian. Call me Kofi Mensah.")]
    assert names == [("Anna",), ("Kofi", "Mensah")]


def test_loader_substitutes_names_in_the_private_split_only(tmp_path):
    d = write_rewardds_folder(tmp_path)
    plain = load_task_data(TaskConfig(name="medical", data=DataConfig(dir=str(d))))
    sub = load_task_data(TaskConfig(name="medical", data=DataConfig(dir=str(d), substitute_names=True)))
    assert "name_map" not in plain.extra and "Zubair" in plain.private[0].question
    assert "Zubair" not in sub.private[0].question and len(sub.extra["name_map"]) == 2
    assert [r.question for r in sub.test] == [r.question for r in plain.test]


def test_substitute_names_config_is_type_checked(tmp_path):
    from hydra.errors import ConfigCompositionException

    from tests.conftest import compose_cfg

    cfg = compose_cfg(["task.data.substitute_names=true"], tmp_path / "run", None)
    assert cfg.task.data.substitute_names is True
    assert compose_cfg([], tmp_path / "run", None).task.data.substitute_names is False
    with pytest.raises(ConfigCompositionException):
        compose_cfg(["task.data.substitute_names=maybe"], tmp_path / "run", None)


ORIGINAL_NAMES = ("Zubair", "Qasim", "Sayanti", "Rynne")


def write_rewardds_folder(root: Path) -> Path:
    """A RewardDS-layout Medical_QA folder whose private records name people (made-up, not real data)."""
    d = root / "medqa"
    d.mkdir()
    inst = "If you are a doctor, please answer the medical questions based on the patient's description."
    rng = random.Random(0)
    rows = [{"instruction": inst, "input": "Hi Dr. Rynne, my name is Zubair Qasim. I have a dry cough for a week.",
             "output": "Hello Zubair, a dry cough after a cold is common. Drink warm fluids and rest."},
            {"instruction": inst, "input": "This is Sayanti, 23 years old. I have a headache every evening.",
             "output": "Dear Sayanti, evening headaches are often linked to screens and stress. Take breaks."}]
    rows += [{"instruction": inst, "output": "Rest the knee, use ice and start again slowly.",
              "input": f"I have had a sore knee for {rng.randint(2, 9)} days after running {i} km."} for i in range(30)]
    (d / "train.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (d / "test.json").write_text("".join(json.dumps(r) + "\n" for r in rows[2:8]))
    return d


@pytest.mark.slow
def test_name_map_is_written_nowhere_in_the_run_folder(run_pipeline, tmp_path):
    d = write_rewardds_folder(tmp_path)
    _, run_dir = run_pipeline(["method=non_private", "experiment=smoke", f"task.data.dir={d}",
                               "task.data.substitute_names=true", "task.data.max_train=null"])
    assert (run_dir / "release").is_dir()
    for f in run_dir.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            for name in ORIGINAL_NAMES:
                assert name.encode() not in data, f"{name} in {f.relative_to(run_dir)}"


# ------------------------------------------------------------------ real data


@pytest.mark.shared_data
def test_substitution_finds_names_in_real_medical_records():
    d = shared_data("Medical_QA")
    td = load_task_data(TaskConfig(name="medical", data=DataConfig(dir=str(d), substitute_names=True)))
    name_map = td.extra["name_map"]
    items = pii_targets(td.private, seed=0, max_records=None)
    print(f"\nMedical_QA: {len(name_map)} of {len(td.private)} private records with detected names, "
          f"{len(items)} PII targets")
    assert len(name_map) > 0 and len(items) > 0
    ids = set(name_map.record_ids())
    assert all(it.id in ids for it in items)  # every target is a substituted name
