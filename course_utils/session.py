"""The one call at the top of every notebook: profile, seeds, device, dtype, checked parameters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import catalog, paths
from .params import ParameterError, check_all
from .profiles import Profile, go_offline, mini_threads, resolve_profile, seed_everything

MAX_SEED = 2**32 - 1


@dataclass
class Session:
    """The effective settings of one notebook run. Parameters read as attributes: ``cfg.STEPS``."""

    notebook: str
    profile: Profile
    seed: int
    params: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        params = self.__dict__.get("params", {})
        if name in params:
            return params[name]
        raise AttributeError(f"{name!r} is neither a setting nor a parameter of this notebook")

    @property
    def device(self) -> str:
        return self.profile.device

    def describe(self) -> str:
        rows = [
            ("notebook", self.notebook),
            ("profile", self.profile.name),
            ("device", f"{self.profile.device} ({self.profile.accelerator})"),
            ("dtype", self.profile.dtype),
            ("gradient checkpointing", self.profile.gradient_checkpointing),
            ("offline", self.profile.offline),
            ("seed", self.seed),
            *self.params.items(),
        ]
        width = max(len(str(k)) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def _resolve_default(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("mini:"):
        return str(paths.models_dir() / value.removeprefix("mini:"))
    return value


def setup(notebook: str, profile: str = "auto", seed: int = 0, **params: Any) -> Session:
    """Resolve the profile, check every parameter, seed everything and print the settings.

    Bad values raise ParameterError naming the parameter, the value and what is allowed.
    """
    spec = catalog.spec_for(notebook)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ParameterError(
            f"SEED = {seed!r} is not allowed: expected an integer in [0, {MAX_SEED}]"
        )
    resolved = resolve_profile(profile)
    values = check_all(params, spec.params)
    missing = sorted(set(spec.params) - set(values))
    if missing:
        raise ParameterError(f"setup() is missing parameter(s) {', '.join(missing)}")
    defaults = spec.defaults.get(resolved.name, {})
    for name, value in values.items():
        if value is None:
            if name not in defaults:
                raise ParameterError(
                    f"{name} = None has no default in the {resolved.name!r} profile"
                )
            values[name] = _resolve_default(defaults[name])

    if resolved.name == "mini":
        import torch

        go_offline()
        torch.set_num_threads(mini_threads())
        if spec.uses_mini_models:
            from .mini.build import ensure_built

            ensure_built()
    seed_everything(seed)
    session = Session(notebook=spec.stem, profile=resolved, seed=seed, params=values)
    print(session.describe())
    return session
