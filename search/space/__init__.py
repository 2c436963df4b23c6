"""The space file: its typed Spec, its checks, and the search space it describes."""
