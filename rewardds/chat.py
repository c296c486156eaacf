"""Chat rendering shared by every stage: one place decides what a prompt looks like.

All prompts go through the tokenizer's own chat template, so a real checkpoint
(Qwen2.5, Llama 3) and the embedded tiny model are driven the same way. The
wording here is the project's own.
"""
from __future__ import annotations

from rewardds.errors import ConfigError

SYSTEM_MESSAGES = {
    "medical": "You are a doctor. Answer the patient's question with accurate, careful medical advice.",
    "financial": "You are a financial expert. Answer the client's question clearly and accurately.",
    "code": "You are a Python programmer. Write a correct, self-contained Python function.",
}

ASKER = {"medical": "patient", "financial": "client", "code": "programmer"}

EVALUATOR_SYSTEM = "You are a data quality evaluator. Judge how helpful, correct and complete the answer is."


def system_message(task: str) -> str:
    try:
        return SYSTEM_MESSAGES[task]
    except KeyError:
        raise ConfigError("task.name", f"unknown task {task!r} (expected one of {sorted(SYSTEM_MESSAGES)})") from None


def messages(task: str, question: str, answer: str | None = None) -> list[dict]:
    msgs = [{"role": "system", "content": system_message(task)}, {"role": "user", "content": question}]
    if answer is not None:
        msgs.append({"role": "assistant", "content": answer})
    return msgs


def _render(tokenizer, msgs: list[dict], generation_prompt: bool) -> str:
    if msgs and msgs[0]["role"] == "system" and not supports_system(tokenizer):
        msgs = fold_system(msgs)
    return tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=generation_prompt)


def fold_system(msgs: list[dict]) -> list[dict]:
    """The system text as the opening paragraph of the first user turn (for templates without a
    system role), the way such models' own docs prompt them."""
    system, rest = msgs[0]["content"], [dict(m) for m in msgs[1:]]
    if rest and rest[0]["role"] == "user":
        rest[0]["content"] = f"{system}\n\n{rest[0]['content']}"
    else:
        rest.insert(0, {"role": "user", "content": system})
    return rest


_PROBE = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]


def supports_system(tokenizer) -> bool:
    """Whether the tokenizer's chat template renders a system message. Templates of Gemma,
    Mistral and others ``raise_exception`` on one; checked once per tokenizer (the answer is
    kept on the tokenizer object)."""
    known = getattr(tokenizer, "_rewardds_system_role", None)
    if known is None:
        try:
            tokenizer.apply_chat_template(_PROBE, tokenize=False, add_generation_prompt=True)
            known = True
        except Exception:  # noqa: BLE001 - jinja2 TemplateError from raise_exception, or any template fault
            known = False
        tokenizer._rewardds_system_role = known
    return known


def render_prompt(tokenizer, task: str, question: str) -> str:
    """The prompt that asks the model to answer ``question``."""
    return _render(tokenizer, messages(task, question), True)


def question_request(task: str, examples: list[str]) -> str:
    """User turn asking for one new question; examples must be public (or none)."""
    text = f"Write one new question that a {ASKER[task]} might ask."
    if examples:
        text += " Examples:\n" + "\n".join(f"- {e}" for e in examples)
    return text


def render_question_prompt(tokenizer, task: str, examples: list[str]) -> str:
    return _render(tokenizer, messages(task, question_request(task, examples)), True)


QUESTION_LABEL = "Question:"
ANSWER_LABEL = "\nAnswer:"


def format_example(question: str, answer: str) -> str:
    """One (question, answer) example as text: what one-step generation writes and reads."""
    return f"{QUESTION_LABEL} {question.strip()}{ANSWER_LABEL} {answer.strip()}"


def parse_example(text: str) -> tuple[str, str] | None:
    """(question, answer) from text in :func:`format_example`'s form (the "Question:" label may be
    missing: the line before "Answer:" is the question); None without an answer."""
    head, sep, answer = text.partition(ANSWER_LABEL)
    if not sep:
        return None
    question = head.strip()
    question = question[len(QUESTION_LABEL):].strip() if question.startswith(QUESTION_LABEL) else question
    answer = answer.strip()
    return (question, answer) if question and answer else None


def shorten(text: str, words: int) -> str:
    parts = text.split()
    return " ".join(parts[:words]) + (" ..." if len(parts) > words else "")


def fit_examples(tokenizer, render, examples: list[tuple[str, str]], max_tokens: int) -> list[tuple[str, str]]:
    """Shorten few-shot examples (never drop them: k is part of the method) until
    ``render(examples)`` fits ``max_tokens`` tokens, so a prompt never overruns the
    generator's context."""
    words = max((len(t.split()) for ex in examples for t in ex), default=0)
    shown = list(examples)
    while shown and len(tokenizer(render(shown), add_special_tokens=False)["input_ids"]) > max_tokens and words > 1:
        words = max(1, int(words * 0.7))
        shown = [(shorten(q, words), shorten(a, words)) for q, a in examples]
    return shown


def example_request(task: str, examples: list[tuple[str, str]]) -> str:
    """User turn asking for one new (question, answer) example in one generation (one-step synthesis)."""
    text = (f"Write one new example: a question that a {ASKER[task]} might ask and its answer, "
            "as 'Question: ...' and then 'Answer: ...'.")
    if examples:
        text += " Examples:\n\n" + "\n\n".join(format_example(q, a) for q, a in examples)
    return text


TRAINING_FORMATS = ("answer", "question", "example")  # answer the question | write the question | write the example


def training_turns(task: str, question: str, answer: str, fmt: str) -> tuple[str, str]:
    """(user turn, reply) of one record in one training format (:data:`TRAINING_FORMATS`): how
    fine-tuning shows a record, and so how an attack that scores a record must render it."""
    if fmt == "answer":
        return question, answer
    if fmt == "question":
        return question_request(task, []), question
    if fmt == "example":
        return example_request(task, []), format_example(question, answer)
    raise ConfigError("formats", f"unknown training format {fmt!r} (expected one of {', '.join(TRAINING_FORMATS)})")


def render_example_prompt(tokenizer, task: str, examples: list[tuple[str, str]]) -> str:
    return _render(tokenizer, messages(task, example_request(task, examples)), True)


def answer_request(question: str, examples: list[tuple[str, str]]) -> str:
    """User turn for an answer after k (question, answer) examples (the "-ICL" response prompt)."""
    if not examples:
        return question
    shots = "\n\n".join(format_example(q, a) for q, a in examples)
    return f"{shots}\n\nQuestion: {question.strip()}"


def render_answer_prompt(tokenizer, task: str, question: str, examples: list[tuple[str, str]]) -> str:
    """The answer prompt; without examples it is exactly :func:`render_prompt`."""
    return _render(tokenizer, messages(task, answer_request(question, examples)), True)


# Refinement prompts (RewardDS stage 7). They lay the question and the answers out under their own
# labels ("The question:", "The current answer:"), never as the "Question: ... / Answer: ..." of the
# one-step example format: a model that has learnt to write examples in that format continues the
# pattern and writes a new question instead of an improved answer (the cause of targets that began
# every answer with "Question:"). A reply that is still not an answer is dropped (``is_answer``).
QUESTION_FIELD = "The question:"
FIRST_ANSWER_FIELD = "The first answer:"
SECOND_ANSWER_FIELD = "The second answer:"
CURRENT_ANSWER_FIELD = "The current answer:"
FEEDBACK_FIELD = "The feedback:"
CRITIQUE_OPENING = "The first answer should also say:"  # the critique reply the embedded model learns
NOT_ANSWER_MARKERS = (QUESTION_FIELD, FIRST_ANSWER_FIELD, SECOND_ANSWER_FIELD, CURRENT_ANSWER_FIELD, FEEDBACK_FIELD,
                      "The first answer should", "should also say:")  # the critique phrase, also when misspelt


def critique_request(question: str, answer: str, other: str) -> str:
    """User turn asking how ``answer`` (the chosen one) could be improved, in the light of ``other``."""
    return (
        "Two answers to the same question follow; the first one was preferred. Say in one sentence how the "
        "first answer could still be improved.\n"
        f"{QUESTION_FIELD} {question}\n{FIRST_ANSWER_FIELD} {answer}\n{SECOND_ANSWER_FIELD} {other}"
    )


def render_critique_prompt(tokenizer, task: str, question: str, answer: str, other: str) -> str:
    return _render(tokenizer, messages(task, critique_request(question, answer, other)), True)


def rewrite_request(question: str, answer: str, critique: str) -> str:
    return (
        "Improve the answer to the question following the feedback. Reply with the improved answer only.\n"
        f"{QUESTION_FIELD} {question}\n{CURRENT_ANSWER_FIELD} {answer}\n{FEEDBACK_FIELD} {critique}"
    )


def render_rewrite_prompt(tokenizer, task: str, question: str, answer: str, critique: str) -> str:
    return _render(tokenizer, messages(task, rewrite_request(question, answer, critique)), True)


def is_answer(text: str) -> bool:
    """Whether a reply to an answer request is an answer: not empty, not a question or a whole
    example in the one-step format (a reply opening with "Question:" writes a new question), and
    not carrying the refinement prompts' labels or the critique's phrase (a reply that critiques
    an answer, or lays one out as the refinement prompts do, is no answer: on the default demo at
    epsilon 4, 24-43% of RewardDS's filtered pool and 64-69% of its refined pool were such replies,
    and its target then wrote "The first answer should also say: ..." for 191 of 200 test questions)."""
    body = text.strip()
    return (bool(body) and not body.startswith(QUESTION_LABEL) and parse_example(body) is None
            and not any(marker in body for marker in NOT_ANSWER_MARKERS))


def render_for_reward(tokenizer, task: str, question: str, answer: str) -> str:
    """Conversation the reward model scores: an evaluator reading question and answer."""
    msgs = [
        {"role": "system", "content": EVALUATOR_SYSTEM},
        {"role": "user", "content": f"[{task}] {question}"},
        {"role": "assistant", "content": answer},
    ]
    return _render(tokenizer, msgs, False)


def answer_turn(rendered: str) -> str:
    """What the template writes after the prompt, up to its end-of-turn token: the whitespace
    some templates put after that token (Qwen's ``<|im_end|>\\n``) only separates turns, and a
    model stops at the end-of-turn token, so it is not supervised."""
    return rendered.rstrip()


def encode_example(tokenizer, task: str, question: str, answer: str, max_length: int, loss_on: str = "answer") -> dict:
    """Token ids and labels of one conversation; prompt tokens get label -100 unless loss_on='all'.

    The answer is kept and the prompt truncated from the left when too long, so
    every example keeps supervised tokens.
    """
    prompt = render_prompt(tokenizer, task, question)
    full = _render(tokenizer, messages(task, question, answer), False)
    if not full.startswith(prompt):  # templates that re-render the prompt differently (e.g. thinking blocks)
        raise ConfigError("model.*.path", f"the chat template of {tokenizer.name_or_path} does not render a "
                                          "conversation with the answer as the generation prompt followed by the "
                                          "answer, so the answer tokens cannot be told apart for the loss")
    p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    a_ids = tokenizer(answer_turn(full[len(prompt):]), add_special_tokens=False)["input_ids"]
    a_ids = a_ids[: max(1, max_length // 2)] if len(p_ids) + len(a_ids) > max_length else a_ids
    p_ids = p_ids[-(max_length - len(a_ids)):] if len(p_ids) + len(a_ids) > max_length else p_ids
    ids = p_ids + a_ids
    if loss_on == "all":
        labels = list(ids)
    elif loss_on == "answer":
        labels = [-100] * len(p_ids) + list(a_ids)
    else:
        raise ConfigError("loss_on", f"expected 'answer' or 'all', got {loss_on!r}")
    return {"input_ids": ids, "labels": labels}
