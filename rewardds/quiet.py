"""Silence third-party chatter that hides the pipeline's own progress lines."""
from __future__ import annotations

import logging
import os
import warnings

_PATTERNS = (
    ".*in eval mode at the start of training.*",
    ".*does not have many workers.*", ".*Full backward hook is firing.*", ".*Secure RNG turned off.*",
    ".*Optimal order is the largest alpha.*", ".*torch.nn.utils.weight_norm.*", ".*right-padding was detected.*",
    ".*Using a non-full backward hook.*", ".*PRNG.*", ".*TypedStorage is deprecated.*",
)


def quiet() -> None:
    for p in _PATTERNS:
        warnings.filterwarnings("ignore", message=p)
    for name in ("pytorch_lightning.utilities.rank_zero", "lightning.pytorch.utilities.rank_zero", "absl",
                 "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # also hides load reports of heads initialised on purpose (score)
        hf_logging.disable_progress_bar()
    except ImportError:
        pass
