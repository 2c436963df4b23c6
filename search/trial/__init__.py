"""One trial on a Ray worker: its model tried, trained, checkpointed and measured."""
