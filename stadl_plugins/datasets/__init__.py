"""Datasets, transforms and file formats."""
from . import (  # noqa: F401  importing registers the datasets and transforms
    act_dataset,  # UCF101-24 / JHMDB
    ava_io,
    ava_test,  # AVA test set
    checked_ava,
    synthetic,
    synthetic_recognition,  # video labels for recognizers
    track_windows,  # RecLNet track-feature files and windows
    transforms,  # flow ground truth (LoadFlowGT)
)
