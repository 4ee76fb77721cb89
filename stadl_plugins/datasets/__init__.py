"""Datasets, transforms and file formats."""
from . import ava_io, synthetic  # noqa: F401
from . import act_dataset, ava_test  # noqa: F401  UCF101-24/JHMDB, AVA test set
from . import synthetic_recognition  # noqa: F401  video labels for recognizers
from . import transforms  # noqa: F401  flow ground truth (LoadFlowGT)
from . import checked_ava  # noqa: F401
from . import track_windows  # noqa: F401  RecLNet track-feature files and windows
