"""rewardds: privacy-preserving fine-tuning through reward-driven synthetic data."""
__version__ = "0.1.0"
