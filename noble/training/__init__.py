"""Training NOBLE models: configurations, datasets, losses and the resumable training loop."""
from noble.training.config import RunConfig, TrainConfig, available_configs, config_from_dict, load_config
from noble.training.data import DataSplit, TraceDataset, read_dataset, split_rows, write_dataset
from noble.training.loop import TrainingError, TrainResult, pick_device, train
from noble.training.losses import relative_lp, sag_amplitude

__all__ = [
    "DataSplit",
    "RunConfig",
    "TrainConfig",
    "TraceDataset",
    "TrainResult",
    "TrainingError",
    "available_configs",
    "config_from_dict",
    "load_config",
    "pick_device",
    "read_dataset",
    "relative_lp",
    "sag_amplitude",
    "split_rows",
    "train",
    "write_dataset",
]
