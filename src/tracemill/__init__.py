"""tracemill: the agent development lifecycle as batch jobs on an open DuckLake warehouse.

traces -> failure clusters -> versioned datasets -> offline evals -> release gates -> new traces.
"""

import os as _os

# Offline defaults, set before litellm or GX can be imported: litellm otherwise fetches its cost
# map at import, and GX phones home. Users may override them in the environment.
_os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
_os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")
_os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

from tracemill.errors import (  # noqa: E402
    ConfigError,
    ConflictError,
    DataError,
    NotFoundError,
    TracemillError,
    TransientError,
)
from tracemill.settings import Settings, get_settings  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "ConflictError",
    "DataError",
    "NotFoundError",
    "Settings",
    "TracemillError",
    "TransientError",
    "__version__",
    "get_settings",
]
