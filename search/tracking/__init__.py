"""The MLflow record: a search run, a nested run per trial, written through a durable spool."""
