"""Runner hooks and engine helpers."""
from . import (
    exact_resume_hook,  # noqa: F401
    flow_unfreeze_hook,  # noqa: F401
    non_finite_check_hook,  # noqa: F401
    sample_seeding,  # noqa: F401
)

sample_seeding.install_sample_seeding()
