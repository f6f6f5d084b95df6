"""The torso precisions the networks support (`agents.networks.torso_dtype`); kept free of
TensorFlow so that the experiment specs can validate a precision without importing it."""

PRECISIONS = ("float32", "bfloat16")
