"""Runner hooks and engine helpers."""
from . import exact_resume_hook  # noqa: F401
from . import flow_unfreeze_hook  # noqa: F401
from . import non_finite_check_hook  # noqa: F401
from . import sample_seeding  # noqa: F401

sample_seeding.install_sample_seeding()
