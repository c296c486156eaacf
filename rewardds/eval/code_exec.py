"""The code sandbox under its first import path: everything lives in :mod:`rewardds.eval.sandbox`.

Kept so that ``from rewardds.eval.code_exec import run_tests`` (and the tests' ``code_exec._plan``)
go on working; new code imports :mod:`rewardds.eval.sandbox`.
"""
from rewardds.eval.sandbox import (
    STATUSES,
    ExecResult,
    SandboxUnavailable,
    check_sandbox,
    evaluate_samples,
    extract_code,
    run_tests,
    sandbox_info,
)
from rewardds.eval.sandbox.plan import plan_tests as _plan

__all__ = ["ExecResult", "SandboxUnavailable", "check_sandbox", "extract_code", "run_tests", "evaluate_samples",
           "sandbox_info", "STATUSES", "_plan"]
