"""The package's layer order and its rule for imports inside functions: data, read by tests/test_layers.py.

Layers point down only: a module may import modules of its own layer and of the
layers listed before it, never of a later one (within a layer, tests/test_imports.py
keeps the imports free of circles). A lower layer that needs something from a
higher one is a sign that the thing lives in the wrong place: move it down.

A module belongs to the layer of the longest entry that names it or one of its
packages (``rewardds.models`` covers ``rewardds.models.tiny``; the entry
``rewardds.models.loading`` places that module lower). Every module must be
covered: a new module takes a place here.

What counts as an import (tests/test_layers.py): every ``import`` / ``from ... import``
at any depth, inside functions and inside ``if TYPE_CHECKING:`` blocks too (a
type-only import still ties the lower module to the higher one's names: move the
type down or use a Protocol); the package ``__init__`` of an imported module when
it imports anything (importing ``rewardds.eval.metrics`` runs
``rewardds/eval/__init__.py`` first); and ``"rewardds.x:name"`` strings, which the
recipe registry and the sampler table import by name.

Imports inside functions are for the third-party packages of ``DEFERRED`` only,
each with the reason it waits. Everything else, ``rewardds`` modules and the
standard library above all, is imported at the top of the module, where a reader
sees what the module depends on.
"""
from __future__ import annotations

# bottom first: (layer, modules and packages in it)
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("core", ("rewardds.errors", "rewardds.io", "rewardds.records", "rewardds.chat", "rewardds.quiet",
              "rewardds.layers", "rewardds.tracking", "rewardds.release", "rewardds.wandb_offline")),
    ("privacy", ("rewardds.privacy",)),  # accounting and the ledger; the plan of a recipe sits in "run planning"
    ("data", ("rewardds.data",)),
    ("model files", ("rewardds.models.loading",)),  # load / save checkpoints and adapters, dtypes, LoRA
    ("training", ("rewardds.training",)),
    ("models", ("rewardds.models",)),  # the embedded tiny model, pretrained with rewardds.training
    ("sampling and eval", ("rewardds.sampling", "rewardds.eval", "rewardds.filters")),
    ("reward", ("rewardds.reward",)),
    ("stages", ("rewardds.stages",)),
    ("recipes", ("rewardds.recipes",)),
    ("run planning", ("rewardds.config", "rewardds.privacy.plan")),  # both read a recipe
    ("runs", ("rewardds.audit", "rewardds.pipeline")),
    # read run folders or start runs: nothing imports them
    ("entry points", ("rewardds.cli", "rewardds.report", "rewardds.models.standin")),
)

# Third-party packages that may be imported inside a function, and why they wait.
DEFERRED: dict[str, str] = {
    "vllm": "optional extra (pip install '.[vllm]'): absent from most installs",
    "torch": "the evaluation metrics, canary statistics and report modules load without it (seconds)",
    "transformers": "seconds to import; only code that builds or loads a model needs it",
    "peft": "imports transformers; only code that loads or merges a LoRA adapter needs it",
    "safetensors": "only the checkpoint check opens weight files",
    "tokenizers": "only training a tokenizer (the embedded and stand-in models) needs it",
    "opacus": "only DP-SGD (wrapping a model, the accountants) needs it; slow to import",
    "pytorch_lightning": "the loggers load only for the logger a run asks for",
    "datasets": "only loading a Hugging Face dataset needs it; slow to import",
    "scipy": "scipy.stats / special / linalg load slowly; only the audit statistics, accounting and FID need them",
    "sklearn": "slow to import; only TF-IDF dedup and PE's nearest neighbours need it",
    "sentence_transformers": "only a PE embedder given as a local folder (method.embedder) needs it; slow to import",
    "mauve": "eval.similarity only, and it pulls in faiss",
    "faker": "only the optional name pools of rewardds.data.names need it; slow to import",
    "matplotlib": "only plotting a report needs it; slow to import",
    "wandb": "only logger=wandb and reading offline W&B runs need it; slow to import",
    "rouge_score": "loads nltk; only the ROUGE metrics need it",
    "sacrebleu": "only the BLEU metric and BLEU dedup need it",
}

# Modules whose function-level imports the rule above does not cover, and why.
DEFERRED_EXEMPT: dict[str, str] = {
    # run as scripts inside bubblewrap, standard library only: each import waits for the moment the
    # sandboxed process needs it (after the uid drop, or when a value of that type crosses)
    "rewardds.eval.sandbox.programs": "the sandbox programs time their stdlib imports for the sandbox",
}
