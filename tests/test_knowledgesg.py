"""KnowledgeSG (method.md section 2): its filters, the professional model's role, its privacy."""
from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest

from rewardds.io import read_json, read_jsonl

SMOKE = ["experiment=smoke", "method=knowledgesg"]
MARGIN = -1.0


def recipe(*extra: str):
    from rewardds.recipes import build_recipe
    from tests.conftest import compose_cfg

    return build_recipe(compose_cfg(SMOKE + list(extra), Path("/nonexistent"), None))


def steps(*extra: str) -> dict:
    return {s.name: s for s in recipe(*extra).steps}


# --------------------------------------------------------------------------- decisions on given inputs


def test_domain_decision_keeps_yes_only_when_more_likely_than_no_by_the_margin():
    from rewardds.stages.knowledgesg import domain_keep

    assert domain_keep(-0.5, -2.0) and not domain_keep(-2.0, -0.5)
    assert not domain_keep(-1.0, -1.0)  # a tie is not a "yes"
    assert domain_keep(-1.0, -3.0, margin=1.5) and not domain_keep(-1.0, -2.0, margin=1.5)
    assert domain_keep(-3.0, -2.0, margin=-2.0)
    assert not domain_keep(float("nan"), -5.0) and not domain_keep(-1.0, float("-inf"))


def test_answer_loglik_is_the_sum_of_the_answer_tokens_log_probabilities():
    import torch

    from rewardds.stages.knowledgesg import answer_loglik
    from tests.helpers import tiny_llama, tiny_tokenizer

    tok = tiny_tokenizer()
    model = tiny_llama(tok).eval()
    prompts = ["the patient has a mild fever", "write a function"]
    got = answer_loglik(model, tok, prompts, "Yes")
    word = tok("Yes", add_special_tokens=False)["input_ids"]
    for prompt, value in zip(prompts, got):
        ids = tok(prompt, add_special_tokens=False)["input_ids"] + word
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0].float(), -1)
        want = sum(float(logp[len(ids) - len(word) + j - 1, t]) for j, t in enumerate(word))
        assert value == pytest.approx(want, abs=1e-4)


def test_ifd_step_drops_misaligned_pairs_and_keeps_the_lowest_share(tmp_path):
    """The block on hand-made pairs: IFD >= 1 dropped, then the lowest ``keep_share`` of the rest."""
    from rewardds.eval.ifd import ifd_scores
    from rewardds.filters import keep_count
    from rewardds.stages.knowledgesg import IFD_FILTER
    from tests.helpers import tiny_llama, tiny_tokenizer

    tok = tiny_tokenizer()
    model_dir = tmp_path / "model"
    tiny_llama(tok).save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    texts = ["the patient has a mild fever", "take rest drink water", "my savings account earns little",
             "consider a diversified index fund", "write a function that returns the sum", "def add(a, b)"]
    pool = [{"id": f"p{i}", "question": texts[i], "chosen": texts[(i * 5 + 1) % 6], "round": 1} for i in range(6)]
    (tmp_path / "pool").mkdir()
    (tmp_path / "pool" / "pool.jsonl").write_text("".join(json.dumps(r) + "\n" for r in pool))
    out = tmp_path / "out"
    out.mkdir()
    from rewardds.models.loading import load_causal_lm

    scores = ifd_scores(load_causal_lm(model_dir), tok, "medical", [p["question"] for p in pool],
                        [p["chosen"] for p in pool], 64)
    for max_ifd in (1.0, sorted(scores)[3]):
        step = SimpleNamespace(name="ifd", params={"task": "medical", "dtype": "float32", "max_length": 64,
                                                   "max_ifd": max_ifd, "keep_share": 0.5})
        ctx = SimpleNamespace(task="medical", device="cpu")
        summary = IFD_FILTER.fn(ctx, step, {"base": model_dir, "pool": tmp_path / "pool"}, out)
        aligned = [i for i, s in enumerate(scores) if s < max_ifd]
        want = sorted(sorted(aligned, key=lambda i: scores[i])[: keep_count(len(aligned), 0.5)])
        kept = list(read_jsonl(out / "pool.jsonl"))
        assert [k["id"] for k in kept] == [f"p{i}" for i in want]
        assert all(k["ifd"] == pytest.approx(scores[int(k["id"][1:])]) for k in kept)
        assert summary["misaligned"] == 6 - len(aligned) and summary["kept"] == len(want)


# --------------------------------------------------------------------------- the recipe


def test_recipe_spends_the_whole_budget_on_one_dp_generator():
    r = recipe()
    assert [s.dp.component for s in r.dp_steps()] == ["gen_proxy"]
    s = {st.name: st for st in r.steps}
    assert s["gen_proxy"].params["formats"] == ["answer", "question", "example"]  # it must write instructions
    server = [st for st in r.steps if st.side == "server"]
    assert all("data:private" not in st.inputs.values() for st in server)


def test_the_professional_model_judges_and_answers_and_nothing_else_does():
    s = steps()
    assert s["domain"].inputs["base"] == "base:professional"
    assert s["answers"].inputs == {"base": "base:professional", "questions": "domain"}  # no DP adapter
    assert s["target@1"].inputs == {"base": "base:target", "pool": "pool", "previous": "gen_proxy"}
    ifd = steps("method.ifd_keep=0.5")
    assert ifd["ifd"].inputs == {"base": "base:target", "adapter": "gen_proxy", "pool": "pool"}  # the model trained
    assert ifd["ifd"].params["order"] == "highest" and ifd["target@1"].inputs["pool"] == "ifd"
    t = steps("method.target=target", "method.dp_model=proxy", "method.ifd_keep=0.5")
    assert t["target@1"].inputs == {"base": "base:target", "pool": "ifd"}
    assert t["ifd"].inputs == {"base": "base:target", "pool": "pool"}
    assert t["gen_proxy"].inputs["base"] == "base:proxy"


def test_the_dp_model_is_the_target_checkpoint_every_method_fine_tunes():
    """Under real checkpoints (0.5B proxy, 7B target) KnowledgeSG DP-fine-tunes, continues and evaluates
    the target checkpoint, as the paper uses one model throughout; dp_model=proxy is the cheaper client."""
    from rewardds.recipes.common import plain
    from tests.conftest import compose_cfg

    cfg = compose_cfg(SMOKE + ["model=qwen2.5"], Path("/nonexistent"), None)
    from rewardds.recipes import build_recipe

    s = {st.name: st for st in build_recipe(cfg).steps}
    assert s["gen_proxy"].inputs["base"] == "base:target" and s["gen_proxy"].params["lm"] == plain(cfg.model.target)
    assert s["eval_target"].inputs["base"] == "base:target" and s["eval_gen_proxy"].inputs["base"] == "base:target"
    assert s["target@1"].params["lm"] == plain(cfg.model.target)
    small = {st.name: st for st in build_recipe(compose_cfg(SMOKE + ["model=qwen2.5", "method.dp_model=proxy"],
                                                              Path("/nonexistent"), None)).steps}
    assert small["gen_proxy"].inputs["base"] == "base:proxy" and small["eval_target"].inputs["base"] == "base:proxy"


def test_filters_are_those_of_the_papers_main_tables_at_the_comparisons_size():
    """No IFD ranking by default (the paper's main tables; section 4.5 adds it): text filter against each
    prompt's own public example instructions, the domain judgement, then the first synthesis.examples
    in-domain instructions; twice that many are sampled."""
    from rewardds.recipes.common import synthetic_examples
    from tests.conftest import compose_cfg

    s = steps()
    assert "ifd" not in s
    wanted = synthetic_examples(compose_cfg(SMOKE, Path("/nonexistent"), None))
    assert s["queries"].params["k"] == 3 and s["queries"].params["examples"] == "public"
    assert s["queries"].inputs["examples"] == "data:public" and s["queries"].params["num_queries"] == 2 * wanted
    assert s["text_filter"].params["dedup_scope"] == "prompt" and "max_kept" not in s["text_filter"].params
    assert s["domain"].params["max_kept"] == wanted
    ifd = steps("method.ifd_keep=0.5")
    assert ifd["domain"].params["max_kept"] == 2 * wanted and ifd["ifd"].params["max_kept"] == wanted
    assert ifd["queries"].params["num_queries"] == 4 * wanted
    assert steps("method.domain_filter=false")["text_filter"].params["max_kept"] == wanted


def test_strict_mode_dedups_against_public_text_only():
    from rewardds.errors import ConfigError
    from rewardds.recipes import Touch

    s = steps()
    assert s["text_filter"].inputs["references"] == "data:public" and s["text_filter"].touches == (Touch.NONE,)
    assert s["text_filter"].params["dedup_threshold"] == 0.52 and s["text_filter"].params["min_tokens"] == 2
    assert s["queries"].touches == (Touch.NONE,)
    with pytest.raises(ConfigError, match="method.dedup_against"):
        recipe("method.dedup_against=private")
    paper = steps("method.dedup_against=private", "privacy.mode=paper")
    assert paper["text_filter"].inputs["references"] == "data:private"
    assert paper["text_filter"].touches == (Touch.PRIVATE_PROMPT,) and "private records" in paper["text_filter"].why
    assert paper["queries"].touches == (Touch.PRIVATE_PROMPT,) and paper["queries"].inputs["examples"] == "data:private"


@pytest.mark.parametrize("key,value", [("method.ifd_keep", "0"), ("method.ifd_keep", "1.5"),
                                       ("method.dedup_against", "secret"), ("method.target", "nope"),
                                       ("method.dp_model", "big"), ("method.ifd_order", "middle"),
                                       ("method.dedup_scope", "all"), ("method.k", "-1"),
                                       ("method.temperature", "0"), ("method.num_instructions", "0"),
                                       ("model.professional.tiny.hidden_size", "97")])
def test_bad_values_are_refused_naming_the_key(key, value):
    from rewardds.errors import ConfigError

    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        recipe(f"{key}={value}")


def test_transmitting_unit_trains_the_adapter_on_the_seed_base_and_adds_the_attacker_row():
    s = steps("method.transmit_unit=true")
    assert s["seed_base"].inputs == {"base": "base:target", "seed": "data:public"} and s["seed_base"].dp is None
    assert s["gen_proxy"].inputs["base"] == "seed_base" and s["eval_gen_proxy"].inputs["base"] == "seed_base"
    assert s["eval_target"].inputs["base"] == "seed_base"
    assert s["eval_attacker"].inputs == {"base": "base:target", "test": "data:test", "adapter": "gen_proxy"}
    assert s["eval_attacker"].eval_label == "attacker"
    assert "eval_attacker" not in steps()


# --------------------------------------------------------------------------- end to end on the smoke config


@pytest.fixture(scope="module")
def ksg_run(tmp_path_factory, shared_cache):
    """KnowledgeSG in strict mode on private records that all carry a canary. The smoke-sized
    professional model is too small to judge domains reliably: the margin keeps a usable set."""
    from rewardds.pipeline import run
    from tests.conftest import compose_cfg
    from tests.helpers import canary_data_dir

    base = tmp_path_factory.mktemp("ksg")
    data = canary_data_dir(base)
    cfg = compose_cfg(SMOKE + ["dp.epsilon=4", f"task.data.dir={data}", f"method.domain_margin={MARGIN}"],
                      base / "run", shared_cache)
    return run(cfg), base / "run", cfg, data


@pytest.mark.slow
def test_privacy_json_has_only_the_dp_generator_within_budget(ksg_run):
    metrics, run_dir, _, _ = ksg_run
    privacy = read_json(run_dir / "privacy.json")
    assert set(privacy["components"]) == {"gen_proxy"}
    assert privacy["formal_guarantee"] is True and privacy["total"]["within_budget"] is True
    assert privacy["total"]["epsilon"] <= 4.0
    assert metrics["method"] == "knowledgesg" and 0 <= metrics["eval"]["target"]["rougeL"] <= 1


@pytest.mark.slow
def test_each_filter_reports_its_counts_and_keeps_what_its_rule_says(ksg_run):
    from rewardds.data import load_task_data
    from rewardds.filters import pair_tfidf_cosine
    from rewardds.recipes.common import synthetic_examples

    metrics, run_dir, cfg, _ = ksg_run
    st = metrics["stages"]
    for name in ("text_filter", "domain"):
        assert "kept" in st[name]["summary"], name
    assert "ifd" not in st  # the paper's main tables: no IFD ranking
    queries = list(read_jsonl(run_dir / "stages" / "queries" / "queries.jsonl"))
    kept = list(read_jsonl(run_dir / "stages" / "text_filter" / "queries.jsonl"))
    assert st["text_filter"]["summary"]["in"] == len(queries) and st["text_filter"]["summary"]["kept"] == len(kept)
    assert all(len(q["question"].split()) >= 2 for q in kept)
    public = [r.question for r in load_task_data(cfg.task).public]
    shown = {r["id"]: r["examples"] for r in read_jsonl(run_dir / "stages" / "queries" / "prompt_examples.jsonl")}
    assert set(shown) == {q["id"] for q in queries} and all(len(v) == 3 for v in shown.values())
    for q in kept:  # nothing near an example of its own prompt (the reference's rule)
        assert all(pair_tfidf_cosine(q["question"], public[j]) <= 0.52 for j in shown[q["id"]])
    judged = {j["id"]: j for j in read_jsonl(run_dir / "stages" / "domain" / "judgements.jsonl")}
    domain = [q["id"] for q in read_jsonl(run_dir / "stages" / "domain" / "queries.jsonl")]
    assert set(judged) == {q["id"] for q in kept}
    in_domain = [i for i in judged if judged[i]["logp_yes"] - judged[i]["logp_no"] > MARGIN]
    assert domain == in_domain[: synthetic_examples(cfg)]  # the comparison's one size, in sampling order
    pool = list(read_jsonl(run_dir / "stages" / "pool" / "pool.jsonl"))
    assert pool and [p["id"] for p in pool] == [i for i in domain if i in {p["id"] for p in pool}]
    assert metrics["synthetic_size"] == len(pool)
    assert list(read_jsonl(run_dir / "release" / "server" / "synthetic" / "pool.jsonl")) == pool


@pytest.mark.slow
def test_every_final_answer_is_a_professional_completion(ksg_run):
    from rewardds import chat
    from rewardds.models.loading import load_tokenizer
    from rewardds.sampling import SamplingParams, build_sampler

    _, run_dir, cfg, _ = ksg_run
    stage_log = {r["stage"]: r for r in map(json.loads, (run_dir / "stage_log.jsonl").read_text().splitlines())}
    assert "professional_model" in stage_log
    prof = (run_dir / "stages" / "professional_model").resolve() / "model"
    p = steps()["answers"].params
    questions = list(read_jsonl(run_dir / "stages" / "domain" / "queries.jsonl"))
    tok = load_tokenizer(prof)
    prompts = [chat.render_prompt(tok, "medical", q["question"]) for q in questions]
    with build_sampler(dict(cfg.sampler), prof) as sampler:
        outs = sampler.generate(prompts, SamplingParams(n=1, temperature=p["temperature"], top_p=p["top_p"],
                                                        max_new_tokens=p["max_new_tokens"], seed=p["seed"]))
    professional = {q["id"]: o[0].text for q, o in zip(questions, outs)}
    pool = list(read_jsonl(run_dir / "stages" / "pool" / "pool.jsonl"))
    assert pool and all(it["chosen"] == professional[it["id"]] for it in pool)


@pytest.mark.slow
def test_no_private_text_reaches_the_release_or_any_server_step(ksg_run):
    from tests.helpers import CANARY

    _, run_dir, _, _ = ksg_run
    server = [s.name for s in recipe().steps if s.side == "server" and s.block.cached]
    release = run_dir / "release"
    roots = [release] + [(run_dir / "stages" / n).resolve() for n in server]
    scanned = 0
    for root in roots:
        assert root.exists(), root
        for f in root.rglob("*"):
            if f.is_file():
                blob = f.read_bytes()
                scanned += 1
                if root == release and f.relative_to(root).parts[0] == "client" and f.suffix == ".safetensors":
                    continue  # the DP adapter's weights: what DP protects
                assert CANARY.encode() not in blob and b"Zorblax" not in blob, f"canary in {f}"
    assert scanned > 20


@pytest.mark.slow
def test_paper_mode_dedup_against_private_examples_voids_the_guarantee(ksg_run, run_pipeline):
    _, _, _, data = ksg_run
    _, run_dir = run_pipeline(SMOKE + ["dp.epsilon=4", f"task.data.dir={data}", "privacy.mode=paper",
                                       "method.dedup_against=private", "stop_after=text_filter"], name="paper")
    privacy = read_json(run_dir / "privacy.json")
    assert privacy["formal_guarantee"] is False and privacy["total"]["epsilon"] == "inf"
    assert "near-duplicate filter compares synthetic instructions with the private records" in \
        privacy["guarantee_note"]


@pytest.mark.slow
def test_transmitting_unit_reports_the_attacker_row(run_pipeline):
    overrides = ["dp.epsilon=4", "method.transmit_unit=true", f"method.domain_margin={MARGIN}"]
    metrics, run_dir = run_pipeline(SMOKE + overrides, name="tu")
    assert {"base", "gen_proxy", "target", "attacker"} <= set(metrics["eval"])
    assert math.isfinite(metrics["eval"]["attacker"]["rougeL"])
    assert set(read_json(run_dir / "privacy.json")["components"]) == {"gen_proxy"}
