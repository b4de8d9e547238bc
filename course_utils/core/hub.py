"""The Hugging Face Hub as the course sees it: offline switches, the stand-in switch,
reachability, the local cache.

Without network, a Hub call retries for 20 to 50 s before failing; with the offline variables
set it fails in under a second. The ``mini`` profile always sets them.
"""

from __future__ import annotations

import os
import socket
import sys
from urllib.parse import urlparse

OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
_TRUE = {"1", "on", "yes", "true"}


def env_flag(name: str) -> bool:
    """Whether the environment variable ``name`` is set to a true value (1, on, yes, true)."""
    return os.environ.get(name, "").strip().lower() in _TRUE


#: Set by the runner for the t4 stand-in test (``run --profile t4 --stand-ins``).
STAND_INS_ENV = "COURSE_STAND_INS"


def stand_ins() -> bool:
    """Whether this process runs the t4 stand-in test: the one place the switch is read."""
    return env_flag(STAND_INS_ENV)


def offline() -> bool:
    """True when an environment variable asks the Hugging Face libraries to stay offline."""
    return any(env_flag(name) for name in (*OFFLINE_VARIABLES, "HF_EVALUATE_OFFLINE"))


def go_offline() -> None:
    """Make every Hugging Face library fail fast instead of retrying a Hub it cannot reach."""
    for variable in OFFLINE_VARIABLES:
        os.environ[variable] = "1"
    # huggingface_hub and datasets read these once, at import time.
    hub_constants = sys.modules.get("huggingface_hub.constants")
    if hub_constants is not None:
        hub_constants.HF_HUB_OFFLINE = True
    datasets_config = sys.modules.get("datasets.config")
    if datasets_config is not None:
        datasets_config.HF_HUB_OFFLINE = True
        datasets_config.HF_DATASETS_OFFLINE = True


def reachable(timeout: float = 2.0) -> bool:
    """Can we open a TCP connection to the Hub (``HF_ENDPOINT``) within ``timeout`` seconds?"""
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host = endpoint.hostname or "huggingface.co"
    port = endpoint.port or (80 if endpoint.scheme == "http" else 443)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def is_cached(repo_id: str) -> bool:
    """Whether a Hub model's config is already in the local Hugging Face cache."""
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
