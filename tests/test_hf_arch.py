"""``model=hf`` on stand-ins of real architectures: Qwen2 and Llama folders with their own tokenizers
and chat templates (rewardds.models.standin), random or briefly pretrained weights, no downloads.

* every prompt renders under each checkpoint's own template; a template without a system role
  (Llama-3 headers that raise on a system message, like Gemma's and Mistral's) gets the system text
  folded into the first user turn;
* the loss mask covers exactly the answer and the template's end-of-turn token;
* samplers load the configured dtype (bf16 stays bf16, fp32 when asked);
* the whole RewardDS pipeline runs with a Qwen2 proxy and a Llama target (different tokenizers:
  only text crosses between them).
"""
from __future__ import annotations

import pytest
import torch

from rewardds import chat
from rewardds.models.loading import load_tokenizer
from rewardds.models.standin import ARCHS, family, write_standin

QUESTION = "I have a mild fever and a dry cough. What should I do?"
ANSWER = "Rest, drink plenty of water and see a doctor if the fever stays above three days."


@pytest.fixture(scope="session")
def standins(tmp_path_factory) -> dict:
    """arch -> a stand-in folder with random weights (bf16 on disk, as instruct checkpoints ship)."""
    root = tmp_path_factory.mktemp("standins")
    return {arch: write_standin(root / arch, arch) for arch in ARCHS}


@pytest.fixture(scope="session")
def trained_standins(tmp_path_factory) -> dict:
    """arch -> a stand-in briefly pretrained on the public medical conversations (it ends its turns)."""
    root = tmp_path_factory.mktemp("trained-standins")
    return {arch: write_standin(root / arch, arch, train_steps=100, seed=i) for i, arch in enumerate(ARCHS)}


# --------------------------------------------------------------------------- chat templates


def test_llama_standin_template_refuses_a_system_message(standins):
    tok = load_tokenizer(standins["llama"])
    with pytest.raises(Exception, match="System role not supported"):
        tok.apply_chat_template([{"role": "system", "content": "s"}, {"role": "user", "content": "u"}],
                                tokenize=False)


@pytest.mark.parametrize("arch", ARCHS)
def test_every_prompt_renders_with_the_system_text(standins, arch):
    tok = load_tokenizer(standins[arch])
    system = chat.system_message("medical")
    prompts = [
        chat.render_prompt(tok, "medical", QUESTION),
        chat.render_question_prompt(tok, "medical", ["What is a fever?"]),
        chat.render_example_prompt(tok, "medical", [("What is a fever?", "A high temperature.")]),
        chat.render_answer_prompt(tok, "medical", QUESTION, [("What is a fever?", "A high temperature.")]),
        chat.render_critique_prompt(tok, "medical", QUESTION, ANSWER, "No idea."),
        chat.render_rewrite_prompt(tok, "medical", QUESTION, ANSWER, "Be shorter."),
    ]
    for p in prompts:
        assert system in p and p.count(system) == 1
    assert chat.EVALUATOR_SYSTEM in chat.render_for_reward(tok, "medical", QUESTION, ANSWER)


def test_without_a_system_role_the_system_text_opens_the_first_user_turn(standins):
    tok = load_tokenizer(standins["llama"])
    prompt = chat.render_prompt(tok, "medical", QUESTION)
    user_turn = "<|start_header_id|>user<|end_header_id|>\n\n"
    assert prompt == (f"<|begin_of_text|>{user_turn}{chat.system_message('medical')}\n\n{QUESTION}<|eot_id|>"
                      "<|start_header_id|>assistant<|end_header_id|>\n\n")


def test_with_a_system_role_the_system_turn_is_kept(standins):
    tok = load_tokenizer(standins["qwen2"])
    prompt = chat.render_prompt(tok, "medical", QUESTION)
    assert prompt.startswith(f"<|im_start|>system\n{chat.system_message('medical')}<|im_end|>\n<|im_start|>user\n"
                             f"{QUESTION}<|im_end|>")


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("answer", [ANSWER, "Yes.", "Line one.\nLine two: 3 * 4 = 12."])
def test_loss_mask_is_exactly_the_answer_and_the_end_of_turn_token(standins, arch, answer):
    tok = load_tokenizer(standins[arch])
    ex = chat.encode_example(tok, "medical", QUESTION, answer, max_length=512)
    kept = [t for t, lab in zip(ex["input_ids"], ex["labels"]) if lab != -100]
    assert ex["labels"][len(ex["labels"]) - len(kept):] == kept  # the supervised tokens are the tail
    assert tok.decode(kept) == answer + family(arch).end_of_turn
    prompt_ids = ex["input_ids"][: len(ex["input_ids"]) - len(kept)]
    assert tok.decode(prompt_ids) == chat.render_prompt(tok, "medical", QUESTION)


@pytest.mark.parametrize("arch", ARCHS)
def test_ifd_scores_the_same_answer_tokens_under_each_template(standins, arch):
    from rewardds.eval.ifd import _pair_rows, ifd_scores
    from rewardds.models.loading import load_causal_lm

    tok = load_tokenizer(standins[arch])
    cond, uncond, n = _pair_rows(tok, "medical", QUESTION, ANSWER, 512, tok.bos_token_id or tok.eos_token_id)
    assert cond[-n:] == uncond[-n:] and len(uncond) == n + 1
    assert tok.decode(cond[-n:]) == ANSWER + family(arch).end_of_turn
    model = load_causal_lm(standins[arch], "float32")
    scores = ifd_scores(model, tok, "medical", [QUESTION], [ANSWER], max_length=512)
    assert len(scores) == 1 and scores[0] == scores[0] and scores[0] > 0


# --------------------------------------------------------------------------- dtypes


@pytest.mark.parametrize("dtype,expected", [("bfloat16", torch.bfloat16), ("float32", torch.float32)])
def test_hf_sampler_loads_the_configured_dtype(standins, dtype, expected):
    from rewardds.sampling import SamplingParams, build_sampler

    with build_sampler({"backend": "hf", "batch_size": 4}, standins["qwen2"], dtype=dtype) as s:
        assert {p.dtype for p in s.model.parameters()} == {expected}
        out = s.generate([chat.render_prompt(s.tokenizer, "medical", QUESTION)],
                         SamplingParams(n=1, temperature=0.0, max_new_tokens=4))
    assert len(out) == 1 and out[0][0].num_tokens >= 1


def test_private_sampling_progress_shows_no_counts(standins, capfd, monkeypatch):
    """Client stages sample on private prompts (``counts=False``): their progress bar says it is
    alive, but not how many items there are (a non-DP count) nor token rates."""
    from rewardds.sampling import SamplingParams, build_sampler

    monkeypatch.delenv("REWARDDS_NO_BAR", raising=False)
    prompts = [QUESTION] * 3
    with build_sampler({"backend": "hf", "batch_size": 2}, standins["qwen2"]) as s:
        for counts in (True, False):
            s.generate(prompts, SamplingParams(n=1, temperature=0.0, max_new_tokens=2), desc=f"bar{counts}",
                       counts=counts)
    err = capfd.readouterr().err
    shown, hidden = err.split("barFalse", 1)[0], "barFalse" + err.split("barFalse", 1)[1]
    assert "3/3" in shown and "3/3" not in hidden and "tok_s" not in hidden and "elapsed" in hidden


def test_the_base_model_folder_carries_its_configured_dtype_to_the_sampler(standins):
    """Stages pass the base model folder of the step's input (``base:proxy``): the dtype of
    ``model.proxy.dtype`` comes with it, and is part of the model's cache identity."""
    from rewardds.models.loading import with_dtype
    from rewardds.sampling import build_sampler

    folder = with_dtype(standins["llama"], "bfloat16")
    assert folder == standins["llama"] and folder.dtype == "bfloat16"
    with build_sampler({"backend": "hf", "batch_size": 4}, folder) as s:
        assert {p.dtype for p in s.model.parameters()} == {torch.bfloat16}
    with build_sampler({"backend": "hf", "batch_size": 4}, with_dtype(standins["llama"], "float32")) as s:
        assert {p.dtype for p in s.model.parameters()} == {torch.float32}


def test_base_model_identity_includes_a_non_default_dtype(standins, tmp_path):
    from tests.conftest import compose_cfg
    from rewardds.stages import base_model

    digests = {}
    for dtype in ("bfloat16", "float32"):
        cfg = compose_cfg(["model=hf", f"model.proxy.path={standins['qwen2']}",
                           f"model.target.path={standins['qwen2']}", f"model.proxy.dtype={dtype}",
                           "model.target.dtype=bfloat16"], tmp_path / dtype, None)
        ctx = _context(cfg)
        base_model.run(ctx)
        assert ctx.paths["proxy_base"].dtype == dtype and ctx.paths["target_base"].dtype == "bfloat16"
        digests[dtype] = dict(ctx.digests)
    assert digests["bfloat16"]["proxy"] != digests["float32"]["proxy"]
    assert digests["bfloat16"]["target"] == digests["float32"]["target"]


def _context(cfg):
    from rewardds.stages.context import Context
    from rewardds.stages.runner import StageRunner

    return Context(cfg=cfg, data=None, run_dir=cfg.run_dir, runner=StageRunner(cfg.run_dir, None), ledger=None,
                   plan={}, tracker=None)


# --------------------------------------------------------------------------- end to end


def test_rewardds_runs_with_a_qwen2_proxy_and_a_llama_target(trained_standins, run_pipeline, tmp_path):
    """Different architectures, tokenizers and templates (the target's has no system role); the
    configured bf16 dtype for every model; refinement has the Llama target rewrite answers the
    Qwen2-based reward model scores: only text crosses between them."""
    metrics, run_dir = run_pipeline(
        ["experiment=smoke", "method=rewardds", "model=hf", f"model.proxy.path={trained_standins['qwen2']}",
         f"model.target.path={trained_standins['llama']}", "model.lora.target_modules=[q_proj,v_proj]",
         "refine.n=4"], cache_dir=tmp_path / "cache")
    stages = {name: rec.get("summary", {}) for name, rec in metrics["stages"].items()}
    assert stages["queries"]["queries"] > 0 and stages["candidates"]["candidates"] > 0
    assert stages["scores"]["scored"] == stages["candidates"]["candidates"]  # Qwen2 reward model, Qwen2 answers
    assert stages["refine@2"]["rewritten"] > 0  # Llama rewrites scored by the Qwen2 reward model
    assert metrics["synthetic_size"] > 0
    for label in ("base", "gen_proxy", "target"):
        assert metrics["eval"][label]["n"] == 4 and metrics["eval"][label]["ppl"] > 1
    for step in ("queries", "candidates"):  # model=hf's default dtype, for the samplers too
        assert metrics["sampling"][step]["dtype"] == "bfloat16"


# --------------------------------------------------------------------------- bad folders


def test_a_checkpoint_without_a_chat_template_is_one_config_error(standins, tmp_path):
    import shutil

    from rewardds.errors import ConfigError
    from rewardds.models.loading import check_model_dir

    bad = tmp_path / "no-template"
    shutil.copytree(standins["llama"], bad)
    (bad / "chat_template.jinja").unlink()
    with pytest.raises(ConfigError) as err:
        check_model_dir(bad, "model.target.path")
    msg = str(err.value)
    assert "model.target.path" in msg and "chat template" in msg and str(bad) in msg and "\n" not in msg
    assert check_model_dir(standins["llama"], "model.target.path") == standins["llama"]


def test_a_model_dir_keeps_its_dtype_across_processes(standins):
    """Pickled (spawned workers, DDP) a base folder still carries its dtype."""
    import pickle

    from rewardds.models.loading import with_dtype

    folder = pickle.loads(pickle.dumps(with_dtype(standins["qwen2"], "bfloat16")))
    assert folder == standins["qwen2"] and folder.dtype == "bfloat16"
    assert (folder / "config.json").is_file()
    with pytest.raises(Exception, match="model.\\*.dtype"):
        with_dtype(standins["qwen2"], "bf17")


def test_a_template_whose_generation_prompt_the_answer_does_not_extend_is_one_config_error(standins):
    """A template whose generation prompt is not the start of the conversation with the answer (here:
    it opens a thinking block the rendered answer turn has not) leaves no answer span to supervise:
    one ConfigError naming the checkpoint, not a traceback, and no private text in it."""
    from rewardds.errors import ConfigError

    tok = load_tokenizer(standins["qwen2"])
    tok.chat_template = tok.chat_template.replace("'<|im_start|>assistant\\n' }}", "'<|im_start|>assistant\\n<think>' }}")
    assert chat.render_prompt(tok, "medical", QUESTION).endswith("<think>")
    with pytest.raises(ConfigError) as err:
        chat.encode_example(tok, "medical", QUESTION, ANSWER, max_length=512)
    assert str(standins["qwen2"]) in str(err.value) and ANSWER not in str(err.value)
