"""pass@k of many model answers (:func:`evaluate_samples`), each run through the sandbox."""
from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from rewardds.eval.metrics import pass_at_k
from rewardds.eval.sandbox.bwrap import check_sandbox
from rewardds.eval.sandbox.extract import extract_code
from rewardds.eval.sandbox.runner import run_tests


def evaluate_samples(samples: list[list[str]], tasks: list[dict], ks=(1,), timeout: float = 5.0, workers: int = 2, memory_mb: int = 512, preamble: str = "") -> dict:
    """pass@k over tasks, running every sample through :func:`extract_code` and :func:`run_tests`.

    ``samples[i]`` holds the n answers for ``tasks[i]`` (``{"tests": [...],
    "entry_point": str}``; the dataset's ``testcase`` key is accepted for
    ``tests``).  Returns ``{"pass@1": ..., "pass@k": ..., "n_tasks": ...,
    "statuses": {status: count}, "per_task": [{"n", "c", "statuses",
    "details"}]}``; each pass@k is the unbiased estimator averaged over tasks
    (pass@1 is always reported) and needs at least k samples for every task.
    ``workers`` samples run at once (threads, each waiting on its own
    sandbox).  Raises SandboxUnavailable before running anything when bwrap
    cannot sandbox generated code on this machine.
    """
    if len(samples) != len(tasks):
        raise ValueError(f"{len(samples)} sample lists for {len(tasks)} tasks")
    ks = sorted({int(k) for k in ks} | {1})
    for i, answers in enumerate(samples):
        if len(answers) < ks[-1]:
            raise ValueError(f"task {i} has {len(answers)} samples; pass@{ks[-1]} needs at least {ks[-1]}")
    check_sandbox()
    jobs = [(i, j) for i, answers in enumerate(samples) for j in range(len(answers))]

    def one(job):
        i, j = job
        task = tasks[i]
        entry_point = task.get("entry_point")
        tests = task.get("tests", task.get("testcase"))
        if tests is None:
            raise ValueError(f"task {i} has neither 'tests' nor 'testcase'")
        answer = samples[i][j]
        code = extract_code(answer, entry_point) if isinstance(answer, str) else None
        return run_tests(code, tests, entry_point, timeout=timeout, memory_mb=memory_mb, preamble=preamble)

    with ThreadPoolExecutor(max_workers=max(1, int(workers))) as pool:
        results = list(pool.map(one, jobs))

    per_task = [{"n": len(answers), "c": 0, "statuses": [], "details": []} for answers in samples]
    for (i, _), res in zip(jobs, results):
        per_task[i]["c"] += int(res.passed)
        per_task[i]["statuses"].append(res.status)
        per_task[i]["details"].append(res.detail)
    out: dict = {}
    for k in ks:
        out[f"pass@{k}"] = (
            sum(pass_at_k(t["n"], t["c"], k) for t in per_task) / len(per_task) if per_task else float("nan")
        )
    out["n_tasks"] = len(tasks)
    out["statuses"] = dict(Counter(r.status for r in results))
    out["per_task"] = per_task
    return out
