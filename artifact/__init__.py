"""The artifact: four subpackages that import one way, `experiment` -> `training` -> `analysis` ->
`grid` (docs/code.md), and two modules all of them share: `files` (atomic writes) and `quiet`
(the known third-party notices, filtered when the package is imported)."""
from artifact import quiet  # noqa: F401  (known third-party notices, filtered at their source)
