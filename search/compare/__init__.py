"""`python -m search.compare`: the report's comparison tables and plots, read back from MLflow.

store.py reads searches back, tables.py and plots.py turn them into the report's tables
and pictures, importance.py rebuilds an Optuna study for fANOVA, report.py renders
Markdown and HTML, cli.py is the command.
"""

from search.compare.cli import main

__all__ = ["main"]
