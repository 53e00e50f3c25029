"""The notebook pipeline: profiles, run layout and the papermill runner behind ``make figures``."""
from noble.pipeline.layout import RunLayout, figures_dir, work_dir
from noble.pipeline.profiles import PROFILE_NAMES, PROFILES, Profile, default_profile, get_profile

__all__ = [
    "PROFILES",
    "PROFILE_NAMES",
    "Profile",
    "RunLayout",
    "default_profile",
    "figures_dir",
    "get_profile",
    "work_dir",
]
