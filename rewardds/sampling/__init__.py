"""Text generation backends behind one interface (``Sampler``)."""
from rewardds.sampling.base import Completion, Sampler, SamplingParams, build_sampler

__all__ = ["Completion", "Sampler", "SamplingParams", "build_sampler"]
