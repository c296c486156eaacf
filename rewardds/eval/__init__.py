"""Evaluation (method.md section 1, step 9): text-overlap metrics, answer
perplexity and pass@k in :mod:`.metrics`; the sandbox that runs generated code
against its assert tests in :mod:`.sandbox`; the canaries of the privacy audit and
of the leakage evaluations in :mod:`.canaries`, their statistics in
:mod:`.audit_statistics`."""
from rewardds.eval.metrics import (
    answer_perplexity,
    pass_at_k,
    per_example_nll,
    qa_metrics,
    rouge_scores,
    sentence_bleu,
)
from rewardds.eval.sandbox import ExecResult, evaluate_samples, extract_code, run_tests

__all__ = [
    "ExecResult",
    "answer_perplexity",
    "evaluate_samples",
    "extract_code",
    "pass_at_k",
    "per_example_nll",
    "qa_metrics",
    "rouge_scores",
    "run_tests",
    "sentence_bleu",
]
