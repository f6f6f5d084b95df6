"""The paper's agents as tf-agents `TFAgent`s, their networks, losses, policies and replay."""
from artifact import quiet  # noqa: F401  (known third-party notices, filtered at their source)
