"""Server-side synthesis: questions, answers, whole examples in one step.

Everything sampled from a DP model (or a public one) is post-processing and
costs no budget. The only other text in a prompt is examples: drawn from the
public pool, or (reference forms, ``privacy.mode=paper``) from the private
records, which the recipe then declares as private text in a prompt.

Blocks (parameters -> output):
  questions  ``queries.jsonl``    {id, question}: one new question per completion
  answers    ``candidates.jsonl`` {id, question, candidates}: ``n`` finished answers per question
  one_step   ``pool.jsonl``       {id, question, chosen, round}: question and answer in one generation
  to_pool    ``pool.jsonl``       the first candidate of each question as its answer
"""
from __future__ import annotations

import logging
import random
from pathlib import Path
from types import SimpleNamespace

from rewardds import chat
from rewardds.errors import RewarddsError
from rewardds.io import read_jsonl, write_json, write_jsonl
from rewardds.models.loading import load_tokenizer
from rewardds.stages.block import Block
from rewardds.sampling import SamplingParams, build_sampler
from rewardds.stages.context import Context

log = logging.getLogger(__name__)


def example_records(ctx: Context, source: str) -> list:
    """Records whose text may appear in a server-side prompt: public, private (reference forms), none."""
    if source == "private":
        return list(ctx.data.private)
    if source == "public":
        return list(ctx.data.public)
    return []


def normalise(text: str) -> str:
    return " ".join(text.lower().split())


PROMPT_EXAMPLES_FILE = "prompt_examples.jsonl"  # per sample: the indices of the examples its prompt showed


def sample_questions(sampler, tok, task: str, pool: list[str], s, k_examples: int, seed: int,
                     shown: list[list[int]] | None = None) -> list[str]:
    """Sample until ``s.num_queries`` unique questions or ``s.max_query_rounds`` rounds. With ``shown``
    (a list), the indices into ``pool`` of the examples each kept question's prompt showed are appended
    to it, one list per question (KnowledgeSG's near-duplicate filter compares a sample with these)."""
    rng = random.Random(seed)
    seen: set[str] = {normalise(q) for q in pool}  # copying an example verbatim is not a new question
    out: list[str] = []
    for rnd in range(s.max_query_rounds):
        # round 1 asks for num_queries; a later round only for the shortfall, with a quarter's margin for
        # duplicates and unfinished samples (a second full round once doubled the cost for 8 questions)
        wanted = s.num_queries if rnd == 0 else -(-5 * (s.num_queries - len(out)) // 4)
        prompts, picks = [], []
        for _ in range(max(1, -(-wanted // s.query_n))):
            # indices drawn as rng.sample(pool, k) draws its items: the same prompts as before
            idx = rng.sample(range(len(pool)), k=min(k_examples, len(pool))) if k_examples else []
            picks.append(idx)
            prompts.append(chat.render_question_prompt(tok, task, [pool[i] for i in idx]))
        params = SamplingParams(n=s.query_n, temperature=s.query_temperature, top_p=s.query_top_p,
                                max_new_tokens=s.query_max_new_tokens, seed=seed + rnd)
        for idx, comps in zip(picks, sampler.generate(prompts, params, desc=f"queries round {rnd + 1}")):
            for c in comps:
                key = normalise(c.text)
                if c.finished and len(key.split()) >= 2 and key not in seen:
                    seen.add(key)
                    out.append(c.text.strip())
                    if shown is not None:
                        shown.append(list(idx))
        log.info("queries: %d unique after round %d", len(out), rnd + 1)
        if len(out) >= s.num_queries:
            break
    if shown is not None:
        del shown[s.num_queries:]
    return out[: s.num_queries]


def write_prompt_examples(out: Path, ids: list[str], shown: list[list[int]]) -> None:
    """Which examples (indices into the step's example source) each sample's prompt showed. Indices only:
    they are drawn with the run's seed, never from the data, and the texts stay in the data split; the
    file stays in the stage folder (it is not part of the release)."""
    write_jsonl(out / PROMPT_EXAMPLES_FILE, [{"id": i, "examples": idx} for i, idx in zip(ids, shown)])


def _adapter(ins: dict) -> Path | None:
    return ins["adapter"] / "adapter" if ins.get("adapter") is not None else None


def _stats(sampler) -> dict:
    return dict(sampler.stats, tokens_per_second=sampler.tokens_per_second)


def _questions(ctx: Context, step, ins: dict, out: Path) -> dict:
    """params: examples (public|private|none), k, num_queries, query_n, query_temperature, query_top_p,
    query_max_new_tokens, max_query_rounds, seed, sampler; inputs: base, adapter (optional generator)."""
    p = step.params
    tok = load_tokenizer(ins["base"])
    pool = [r.question for r in example_records(ctx, p["examples"])]
    shown: list[list[int]] = []
    with build_sampler(p["sampler"], ins["base"], _adapter(ins)) as sampler:
        qs = sample_questions(sampler, tok, ctx.task, pool, SimpleNamespace(**p), p["k"], p["seed"], shown)
        stats = _stats(sampler)
    if not qs:
        raise RewarddsError("query synthesis produced no finished question; raise synthesis.query_max_new_tokens "
                            "or synthesis.max_query_rounds")
    ids = [f"q{i:05d}" for i in range(len(qs))]
    write_jsonl(out / "queries.jsonl", [{"id": i, "question": q} for i, q in zip(ids, qs)])
    write_prompt_examples(out, ids, shown)
    write_json(out / "sampling.stats.json", stats)
    return {"queries": len(qs), "tokens_per_second": stats["tokens_per_second"]}


def _answer_prompts(ctx: Context, tok, questions: list[str], p: dict) -> list[str]:
    """The answer prompt of each question; with k > 0, k (question, answer) examples before it."""
    shots = [(r.question, r.answer) for r in example_records(ctx, p.get("examples", "none"))]
    k = p.get("k", 0) if shots else 0
    if not k:
        return [chat.render_prompt(tok, ctx.task, q) for q in questions]
    rng = random.Random(p["seed"] + 7)
    prompts = []
    for q in questions:
        ex = rng.sample(shots, k=min(k, len(shots)))
        ex = chat.fit_examples(tok, lambda e: chat.render_answer_prompt(tok, ctx.task, q, e), ex, p["prompt_tokens"])
        prompts.append(chat.render_answer_prompt(tok, ctx.task, q, ex))
    return prompts


def _answers(ctx: Context, step, ins: dict, out: Path) -> dict:
    """params: n, temperature, top_p, max_new_tokens, seed, sampler, examples, k, prompt_tokens, finished_only,
    answers_only, max_rounds; inputs: base, adapter (optional), questions (a step with queries.jsonl).

    ``max_rounds`` > 1: a question none of whose replies is kept is asked again, with a new seed,
    for up to that many rounds, so that the answer check does not shrink a synthetic set below the
    size every method is given (a retry reads only the sampled replies: post-processing)."""
    p = step.params
    tok = load_tokenizer(ins["base"])
    queries = list(read_jsonl(ins["questions"] / "queries.jsonl"))
    prompts = _answer_prompts(ctx, tok, [q["question"] for q in queries], p)
    finished_only = p.get("finished_only", True)  # RewardDS keeps only answers that ended with EOS
    answers_only = p.get("answers_only", False)
    kept_of: dict[int, list[str]] = {}
    dropped, not_answers, rounds = 0, 0, 0
    todo = list(range(len(queries)))
    with build_sampler(p["sampler"], ins["base"], _adapter(ins)) as sampler:
        for rnd in range(max(1, p.get("max_rounds", 1))):
            if not todo:
                break
            params = SamplingParams(n=p["n"], temperature=p["temperature"], top_p=p["top_p"],
                                    max_new_tokens=p["max_new_tokens"], seed=p["seed"] + 1000 * rnd)
            outs = sampler.generate([prompts[i] for i in todo], params,
                                    desc="answers" if rnd == 0 else f"answers, retry {rnd}")
            rounds, again = rnd + 1, []
            for i, comps in zip(todo, outs):
                kept = [c.text for c in comps if (c.finished or not finished_only) and c.text.strip()]
                dropped += len(comps) - len(kept)
                if answers_only:  # a reply that writes a new question (or a whole example) is no answer to train on
                    answers = [t for t in kept if chat.is_answer(t)]
                    not_answers += len(kept) - len(answers)
                    kept = answers
                if kept:
                    kept_of[i] = kept
                else:
                    again.append(i)
            todo = again
        stats = _stats(sampler)
    rows = [{"id": q["id"], "question": q["question"], "candidates": kept_of[i]}
            for i, q in enumerate(queries) if i in kept_of]
    if queries and not rows:
        raise RewarddsError(f"answer synthesis ({step.name}) kept no answer in {rounds} rounds: every reply was "
                            "cut at its token budget or was no answer; raise synthesis.answer_max_new_tokens or "
                            "synthesis.max_query_rounds")
    write_jsonl(out / "candidates.jsonl", rows)
    write_json(out / "sampling.stats.json", stats)
    return {"questions": len(rows), "candidates": sum(len(r["candidates"]) for r in rows), "unfinished_dropped": dropped,
            **({"not_answers": not_answers} if answers_only else {}), "answer_rounds": rounds,
            "tokens_per_second": stats["tokens_per_second"]}


def _one_step(ctx: Context, step, ins: dict, out: Path) -> dict:
    """params: num, n, temperature, top_p, max_new_tokens, answer_max_new_tokens, max_rounds, seed, sampler,
    examples, k, prompt_tokens; inputs: base, adapter (optional).

    One sequence holds question and answer: the assistant turn starts with the forced label
    "Question:", the model writes the question; where it stops without writing "Answer:" itself,
    the same sequence is continued after a forced "Answer:" label (constrained decoding of the
    format, so a small model that knows the content but not the layout still yields examples).
    The answer is always conditioned on the example prompt and its own question in that sequence.
    """
    p = step.params
    tok = load_tokenizer(ins["base"])
    shots = [(r.question, r.answer) for r in example_records(ctx, p["examples"])]
    rng = random.Random(p["seed"])
    seen = {normalise(q) for q, _ in shots}
    rows, shown, unparsed, continued = [], [], 0, 0
    not_answers = [0]

    def add(question: str, answer: str, idx: list[int]) -> None:
        if p.get("answers_only", False) and answer and not chat.is_answer(answer):
            not_answers[0] += 1  # the answer part runs on into another example: no answer to train on
            return
        if question and answer and normalise(question) not in seen:
            seen.add(normalise(question))
            rows.append({"id": f"e{len(rows):05d}", "question": question, "chosen": answer, "round": 1,
                         "generation": chat.format_example(question, answer)})  # one sequence holds both
            shown.append(idx)

    with build_sampler(p["sampler"], ins["base"], _adapter(ins)) as sampler:
        for rnd in range(p["max_rounds"]):
            prompts, picks = [], []
            for _ in range(max(1, -(-(p["num"] - len(rows)) // p["n"]))):
                # indices drawn as rng.sample(shots, k) draws its items: the same prompts as before
                idx = rng.sample(range(len(shots)), k=min(p["k"], len(shots))) if p["k"] and shots else []
                ex = chat.fit_examples(tok, lambda e: chat.render_example_prompt(tok, ctx.task, e),
                                       [shots[i] for i in idx], p["prompt_tokens"])
                picks.append(idx)
                prompts.append(chat.render_example_prompt(tok, ctx.task, ex) + chat.QUESTION_LABEL)
            params = SamplingParams(n=p["n"], temperature=p["temperature"], top_p=p["top_p"],
                                    max_new_tokens=p["max_new_tokens"], seed=p["seed"] + rnd)
            pending = []
            outs = sampler.generate(prompts, params, desc=f"one-step round {rnd + 1}")
            for prompt, idx, comps in zip(prompts, picks, outs):
                for c in comps:
                    parsed = chat.parse_example(chat.QUESTION_LABEL + c.text)
                    if parsed is not None:  # an answer cut at max_new_tokens is kept, as the reference does
                        add(*parsed, idx)
                    elif c.finished and c.text.strip():  # a whole question, no answer yet: continue the sequence
                        pending.append((prompt + c.text.rstrip() + chat.ANSWER_LABEL, c.text.strip(), idx))
                    else:
                        unparsed += 1
            if pending:
                cont = SamplingParams(n=1, temperature=p["temperature"], top_p=p["top_p"],
                                      max_new_tokens=p["answer_max_new_tokens"], seed=p["seed"] + 1000 + rnd)
                outs = sampler.generate([x for x, _, _ in pending], cont, desc=f"one-step answers {rnd + 1}")
                for (_, question, idx), comps in zip(pending, outs):
                    continued += 1
                    add(question, comps[0].text.strip(), idx)
            if len(rows) >= p["num"]:
                break
        stats = _stats(sampler)
    rows, shown = rows[: p["num"]], shown[: p["num"]]
    if not rows:
        raise RewarddsError("one-step synthesis produced no example; raise synthesis.query_max_new_tokens or "
                            "synthesis.max_query_rounds")
    write_jsonl(out / "pool.jsonl", rows)
    write_prompt_examples(out, [r["id"] for r in rows], shown)
    write_json(out / "sampling.stats.json", stats)
    return {"examples": len(rows), "unparsed": unparsed, "continued_after_answer_label": continued,
            **({"not_answers": not_answers[0]} if p.get("answers_only", False) else {}), "tokens_per_second": stats["tokens_per_second"]}


def _to_pool(ctx: Context, step, ins: dict, out: Path) -> dict:
    """The first finished answer of each question becomes its answer (two-step baselines)."""
    rows = [{"id": r["id"], "question": r["question"], "chosen": r["candidates"][0], "round": 1}
            for r in read_jsonl(ins["candidates"] / "candidates.jsonl")]
    if not rows:
        raise RewarddsError("no question received a finished answer; raise synthesis.answer_max_new_tokens")
    write_jsonl(out / "pool.jsonl", rows)
    return {"examples": len(rows)}


QUESTIONS = Block("questions", _questions)
ANSWERS = Block("answers", _answers)
ONE_STEP = Block("one_step", _one_step)
TO_POOL = Block("to_pool", _to_pool)
