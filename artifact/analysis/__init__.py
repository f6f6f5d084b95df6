"""From finished runs to reports: the runs' progress loaded once into one results table
(`results`), learning curves and final-score tables (`curves`), interval statistics (`statistics`),
the claim verdicts and their error rates (`claims`, `error_rates`), published curves and parity
(`published`, `parity`), Atari reference scores (`atari_scores`), the equivalence theorems checked
on real networks (`theory`), and every report of a grid written (`reports`). It imports
`experiment` and `training.progress` (the schema it reads); never `grid`. `theory` alone also
imports `agents` (the losses and the network it checks), and with it TensorFlow and tf-agents;
the other modules load no TensorFlow, and `reports` imports `theory` only when the theory report
runs (tests/test_layers.py)."""
