"""Sweep report: ``python -m rewardds.report SWEEP_DIR [--metric M] [--reference METHOD] [--out DIR]``.

A sweep dir is a Hydra multirun folder (``hydra.sweep.dir``) with one subfolder per
job (``SWEEP_DIR/0``, ``SWEEP_DIR/1``, ...); it may also hold ``.submitit/`` (the
submitit launcher's logs) and ``multirun.yaml``. The report writes into ``--out``
(default: SWEEP_DIR) ``report.md`` (markdown tables), ``report.csv`` (one row per
job, every column) and ``privacy_utility.png``.

Two views of a sweep:

* a privacy-utility sweep (``dp.epsilon=1,2,4,8 filter.keep_ratio=...``): one row
  per job; the plot is target utility vs the budget epsilon (log x axis, one line
  per setting of the other swept keys);
* a method comparison (``method=rewardds,dp_gene,... seed=0,1,2``, i.e. the jobs
  differ in ``method`` or ``seed``): besides the job table, a methods x metrics
  table (markdown, and ``report_methods.csv``) with one row per method and
  setting of the other swept keys (e.g. epsilon); jobs that differ only in
  ``seed`` are aggregated (mean, std over seeds, n seeds). Every metric carries
  its 95% bootstrap interval over test items. With per-item scores the table
  adds the PAIRED differences to the untuned base and to a reference method
  (``--reference``, default rewardds) on the same test items, over seeds when
  aggregated, and a headroom line (does non_private beat the base?). The plot:
  one point per method (x: method, or epsilon with one line per method when
  epsilon is swept too) with error bars (the bootstrap interval; the std over
  seeds when aggregated), and a second panel with the paired differences.

``--metric`` (the plotted metric) defaults to pass@1 for code jobs and rougeL
otherwise, falling back to another target metric when absent.

Contract with the pipeline: files in each job folder
------------------------------------------------------
``.hydra/overrides.yaml``  (Hydra) the job's command-line overrides, a YAML list of
    strings such as ``dp.epsilon=4``, ``method=dp_gene``, ``seed=1``. The "swept"
    overrides are the keys whose value differs between jobs.
``.hydra/hydra.yaml``  (Hydra) ``hydra.job.id`` is the submitit job id (``7_3`` on
    SLURM arrays, a pid locally); used to find the job's submitit log.
``config.yaml``  the resolved run config (YAML); ``dp.epsilon`` / ``dp.enabled`` are
    the fallback for the budget when ``privacy.json`` is missing
    (``.hydra/config.yaml`` is the next fallback, then the ``dp.epsilon`` override);
    ``method.name`` and ``seed`` are fallbacks for the method and seed.
``metrics.json``  written when the job completed (every key optional)::

    {"wall_time_s": float,
     "method": "dp_gene",                 # else the method= override, else config method.name
     "synthetic_size": int or null,       # size of the synthetic training set
     "eval": {"target":    {"rouge1": .., "rouge2": .., "rougeL": .., "bleu": .., "ppl": ..,
                            or "pass@1": .., ...,
                            "n": 24,                               # test items
                            "ci95": {"rougeL": [lo, hi], ...}},    # bootstrap over items
              "base":      {...},          # the un-fine-tuned model, same keys
              "gen_proxy": {...}},
     "stages": {"<step>": {"summary": {"in": .., "kept": .., "dropped": .., "<reason>": ..}}, ...},
     "synthetic_eval": {"ifd": {"ifd_mean": ..}},          # optional, eval.ifd
     "client_eval": {"similarity": {"mauve": .., "fid": ..},  # optional, client-only numbers
                     "copies": {"private": {"near_verbatim": ..}, "canaries": {"secret_copies": ..}},
                     "canary_exposure": {"target": {"exposure_mean": .., "canary_auc": ..}},
                     "pii": {"<label>": {"success_rate": .., "lift": ..}}}, ...}

    The optional keys feed the "Leakage and data quality" table and the "Filters" table (steps whose
    summary has ``kept``); PII is also read from ``eval.<label>.pii``.

``eval_items/<label>.jsonl`` (else ``stages/eval_<label>/items.jsonl``, the evaluation
    stage's own file)  per-item scores of the ``target`` and ``base`` evaluations, one
    JSON object per test item: ``{"id": .., "rouge1": .., "rouge2": .., "rougeL": ..,
    "bleu": .., "nll_sum": .., "n_tokens": .., ["pass@1": .., "n_samples": .., "n_correct": ..]}``
    (:mod:`rewardds.eval.paired`). Optional: without it the paired columns say ``-``;
    a malformed one is an error naming file and line.

``privacy.json``::

    {"total": {"epsilon": float or "inf", "delta": float,
               "epsilon_basic_composition": float},
     "components": {...},
     "formal_guarantee": bool,
     "guarantee_note": str or null,       # why there is no formal guarantee
     "notes": [str, ...],
     "budget": {"epsilon": float, ...}}

A job without ``metrics.json`` counts as failed (crashed, killed, or still running).
It may hold ``error.txt`` (one line: the error). The report lists failed jobs with
their log: the submitit log ``SWEEP_DIR/.submitit/<id>/<id>_<task>_log.err`` of the
job, else the job's own ``*.log`` (Hydra's job log). Submitit tasks that never got
a job folder (killed before Hydra started) are listed as failed too.

Python API: ``collect(sweep_dir) -> list[dict]`` (one dict per job, see
``collect``'s docstring), ``aggregate(rows, reference="rewardds") -> list[dict]``
(the comparison rows), ``write_report(sweep_dir, out_dir=None, metric=None,
reference="rewardds") -> dict`` and ``main(argv=None) -> int``.

Modules, each layer importing only those below it (and ``rewardds.io``,
``rewardds.eval``; nothing outside this package imports it):

* :mod:`.values`: loose contract values, number formatting, markdown tables;
* :mod:`.logs`: failed jobs' error lines and logs;
* :mod:`.sweep`: swept keys, job order, metric choice, comparison or not;
* :mod:`.quality`: leakage, data-quality and filter numbers and their tables;
* :mod:`.collect`: job folders -> rows;
* :mod:`.compare`: paired differences to base / reference, headroom;
* :mod:`.aggregate`: rows -> comparison groups over seeds;
* :mod:`.csv_files`, :mod:`.markdown`, :mod:`.plot`: the output files;
* :mod:`.write`: ``write_report``; :mod:`.cli`: the command line.
"""
from rewardds.report.aggregate import aggregate, comparison_metrics, error_bar
from rewardds.report.cli import main
from rewardds.report.collect import collect
from rewardds.report.compare import DEFAULT_REFERENCE
from rewardds.report.csv_files import csv_text, methods_csv_text
from rewardds.report.markdown import markdown_text
from rewardds.report.plot import plot_png
from rewardds.report.quality import read_filters, read_set_metrics, set_metric_keys
from rewardds.report.sweep import (
    choose_metric,
    comparison_keys,
    default_metric,
    fixed_overrides,
    is_comparison,
    plot_mode,
    sort_rows,
    swept_keys,
    target_metrics,
)
from rewardds.report.write import write_report

__all__ = [
    "DEFAULT_REFERENCE",
    "aggregate",
    "choose_metric",
    "collect",
    "comparison_keys",
    "comparison_metrics",
    "csv_text",
    "default_metric",
    "error_bar",
    "fixed_overrides",
    "is_comparison",
    "main",
    "markdown_text",
    "methods_csv_text",
    "plot_mode",
    "plot_png",
    "read_filters",
    "read_set_metrics",
    "set_metric_keys",
    "sort_rows",
    "swept_keys",
    "target_metrics",
    "write_report",
]
