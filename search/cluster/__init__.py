"""Where trials run: a local or joined Ray cluster, storage, GPU sharing, users' own code."""
