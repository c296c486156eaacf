"""The methods by name: schema, recipe builder and a one-line summary.

Like torchtune's recipe registry, this table is data only: builders are named
by "module:function" and imported when a run asks for them, so reading the
table (config validation, ``--help``, the README) imports no model code.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from rewardds.errors import ConfigError
from rewardds.recipes.configs import DirectMethod, FewShotMethod, KnowledgeSGMethod, PEMethod, RewardDSMethod


@dataclass(frozen=True)
class MethodEntry:
    name: str
    schema: type  # dataclass of the method.* keys
    builder: str  # "module:function" returning the recipe's steps
    summary: str

    def build(self):
        module, func = self.builder.split(":")
        return getattr(importlib.import_module(module), func)


_FEW_SHOT = "rewardds.recipes.fewshot:build"
_DIRECT = "rewardds.recipes.direct:build"

METHODS: dict[str, MethodEntry] = {m.name: m for m in (
    MethodEntry("rewardds", RewardDSMethod, "rewardds.recipes.rewardds:build",
                "DP generation + DP reward proxies; reward-guided filtering and self-optimizing refinement"),
    MethodEntry("non_private", DirectMethod, _DIRECT, "the target fine-tuned on the private records, no DP"),
    MethodEntry("dp_sgd", DirectMethod, _DIRECT, "the target fine-tuned on the private records with DP-SGD"),
    MethodEntry("icl", FewShotMethod, _FEW_SHOT, "pretrained generator writes question and answer in one step"),
    MethodEntry("self_instruct", FewShotMethod, _FEW_SHOT, "pretrained generator: a question, then its answer"),
    MethodEntry("self_instruct_icl", FewShotMethod, _FEW_SHOT,
                "pretrained generator, two steps, k examples in the answer prompt"),
    MethodEntry("dp_gene", FewShotMethod, _FEW_SHOT, "DP generator writes question and answer in one step"),
    MethodEntry("dp_instruct", FewShotMethod, _FEW_SHOT, "DP generator: a question, then its answer"),
    MethodEntry("dp_instruct_icl", FewShotMethod, _FEW_SHOT,
                "DP generator, two steps, k examples in the answer prompt"),
    MethodEntry("pe", PEMethod, "rewardds.recipes.pe:build",
                "Private Evolution: public-LM questions evolved by DP nearest-neighbour votes of the private records"),
    MethodEntry("knowledgesg", KnowledgeSGMethod, "rewardds.recipes.knowledgesg:build",
                "DP LoRA generator writes instructions; a professional model filters by domain and answers; "
                "IFD ranking; the DP model is fine-tuned on the result"),
)}


def method_entry(name: str) -> MethodEntry:
    try:
        return METHODS[name]
    except KeyError:
        raise ConfigError("method.name", f"unknown method {name!r}; methods: {', '.join(METHODS)}") from None
