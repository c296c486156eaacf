"""What the embedded base model is taught: every public task it must be able to do, and nothing of
the prompts' own layout (a model that learns to write the refinement prompts' labels writes them in
place of answers once DP noise pulls a fit towards its pretraining)."""
import pytest

from rewardds import chat
from rewardds.data.loaders import demo_dir, load_records
from rewardds.models.tiny import pretraining_examples, public_conversations, train_tokenizer

FIELD_LABELS = (chat.QUESTION_FIELD, chat.FIRST_ANSWER_FIELD, chat.SECOND_ANSWER_FIELD, chat.CURRENT_ANSWER_FIELD,
                chat.FEEDBACK_FIELD)


@pytest.fixture(scope="module")
def pretraining():
    task = "medical"
    public = load_records(demo_dir(task) / "public.jsonl", task)
    convs = public_conversations(task, public, seed=0)
    tok = train_tokenizer([chat.system_message(task)] + [c[0] for c in convs] + [c[1] for c in convs], 2000)
    return tok, public, convs, pretraining_examples(tok, task, convs, max_length=256)


def _supervised(tok, example) -> str:
    return tok.decode([t for t, label in zip(example["input_ids"], example["labels"]) if label != -100],
                      skip_special_tokens=True)


def test_no_supervised_token_writes_a_label_of_the_refinement_prompts(pretraining):
    tok, _, convs, examples = pretraining
    refinement = [e for c, e in zip(convs, examples) if chat.FIRST_ANSWER_FIELD in c[0]]
    assert refinement, "the base is taught the two refinement requests"
    for example in examples:
        text = _supervised(tok, example)
        assert not any(label in text for label in FIELD_LABELS), text[:200]


def test_the_base_is_still_taught_every_public_task(pretraining):
    """The replies of all five conversation kinds stay supervised: answers, new questions, whole
    examples, critiques and rewrites; and the plain questions themselves (the base's language model
    of the public domain)."""
    tok, public, convs, examples = pretraining
    texts = [_supervised(tok, e) for e in examples]
    assert any(chat.CRITIQUE_OPENING in t for t in texts)  # critiques
    assert any(t.startswith(chat.QUESTION_LABEL) and chat.ANSWER_LABEL.strip() in t for t in texts)  # whole examples
    questions = {r.question for r in public}
    asked = [t for c, t in zip(convs, texts) if c[0] not in questions and c[1] in questions]
    assert asked and all(t.strip() in questions for t in asked)  # new questions: the reply alone is supervised
    plain = [(c[0], c[1], t) for c, t in zip(convs, texts) if c[0] in questions]
    assert len(plain) == len(public)
    assert all(q.split()[-1] in t and a.split()[-1] in t for q, a, t in plain)  # question and answer both
