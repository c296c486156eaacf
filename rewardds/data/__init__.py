"""Task data: the embedded demo corpora and RewardDS-layout loaders."""
from rewardds.data.loaders import TASKS, demo_dir, load_records, load_task_data, subsample

__all__ = ["TASKS", "demo_dir", "load_records", "load_task_data", "subsample"]
