"""The experiment layer: figure specs, runs, trainers, evaluation, reports, statistics, claims."""
from artifact import quiet  # noqa: F401  (known third-party notices, filtered at their source)
