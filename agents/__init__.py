"""The paper's agents as tf-agents `TFAgent`s, their networks, losses, policies and replay."""
