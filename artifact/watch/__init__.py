"""Watching and scoring a trained agent: `pg-softq-play` (`python -m artifact.watch`). A layer
above `analysis` and below `grid`: it plays a run's saved policy under exactly the protocol of
the runs' evaluations and needs no grid. `policies` finds the policy (a run's policy/, a bare
SavedModel, or a published reference run's policy in reports/reference/policies/) and rebuilds
its evaluation policy; `playing` plays and scores the games (the mean's CI is the reports' own,
`artifact.analysis.statistics.interval`); `film` films one game in an RGB twin of its emulator;
`cli` is the command line. Usage errors are `artifact.usage.UsageError`, as the grid's.
"""
