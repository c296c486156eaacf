"""The answer check every answer step, refinement and the target test rely on (``chat.is_answer``)."""
import pytest

from rewardds import chat

CRITIQUE_LIKE = [
    "The first answer should also say: ...",  # the reply the rewardds target gave 191 of 200 test questions
    "The first answer: Hi, thank you for. These symptoms point to allergic rhinitis.",
    "Thanks for writing in. This sounds like anxiety. Te first answer should also say: I take six weeks.",
    "Assessment: likely dengue fever.\nThe feedback: say which test to order.",
]


@pytest.mark.parametrize("text", CRITIQUE_LIKE)
def test_a_critique_or_the_refinement_prompts_layout_is_no_answer(text):
    assert not chat.is_answer(text)


def test_every_label_of_the_refinement_prompts_marks_a_reply_as_no_answer():
    """Whatever label the critique and rewrite prompts lay their fields out with, a reply that echoes it
    is refused: the check follows the prompts, not a copy of them."""
    prompts = chat.critique_request("Q?", "A1.", "A2.") + "\n" + chat.rewrite_request("Q?", "A1.", "C.")
    labels = [line[: line.index(":") + 1] for line in prompts.splitlines() if line.startswith("The ")]
    assert len(labels) == 6
    for label in labels:
        assert not chat.is_answer(f"Rest and fluids help. {label} more detail."), label


def test_answers_pass():
    for text in ("Assessment: likely dengue fever. Plan: blood count today; paracetamol only.",
                 "Thanks for writing in. This sounds like a cold; rest and fluids for three days.",
                 "The answer depends on the dose: see your doctor."):
        assert chat.is_answer(text)
    assert not chat.is_answer("Question: What helps a cold?")
    assert not chat.is_answer("  ")
