"""The one private MLflow name the platform uses, kept here with a test that names it.

MLflow's SQL registry store, asked for a version whose source is a LoggedModel
(`models:/<model id>`), looks the model up through MLflow's process-wide "current"
tracking URI, not the client's (a TODO in its own code). A search logs to its own store
(`tracking.uri`), and a notebook may have set another one: MLflow's own
`_use_tracking_uri` switches it for the call and restores exactly what was there (the URI
set in code, or none: the environment's), which the public `set_tracking_uri` cannot do.
"""

from __future__ import annotations

from mlflow.tracking._tracking_service import utils as _tracking_utils

PRIVATE_NAMES = {"mlflow.tracking._tracking_service.utils": ("_use_tracking_uri",)}


def use_tracking_uri(uri: str):
    """Context manager: MLflow's fluent API logs to `uri` inside it."""
    return _tracking_utils._use_tracking_uri(uri)
