"""The grid of runs and the command line: arguments (`cli`, `arguments`), the plan of runs
(`planning`), the local and Ray executors (`executors`), the live monitor (`monitor`), cost and
disk (`cost`), RAM (`memory`), the throughput benchmark (`bench`) and the play command that
scores and films a saved policy (`play`). The top layer: it may import every other subpackage;
none imports it."""
