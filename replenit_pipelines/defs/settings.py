"""Settings read when definitions load: the one lib.settings.Settings object, built from the
environment. None is a secret: keys and tenants are read at run launch through EnvVar (see
resources.py)."""

from replenit_pipelines.lib.settings import DEFAULT_LIMITS, DEFAULT_SANDBOX_URL, DEMO_MAPPING, PACKAGE_DIR, Settings

__all__ = ["DEFAULT_LIMITS", "DEFAULT_SANDBOX_URL", "DEMO_MAPPING", "PACKAGE_DIR", "Settings", "current"]


def current() -> Settings:
    """The settings as the environment says now (definitions read them once as they load)."""
    return Settings.from_env()
