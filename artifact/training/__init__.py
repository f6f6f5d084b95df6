"""One run: its phases (`runner`), its checkpoint store (`checkpoints`), the trainer interface
(`trainer`) and one module per algorithm family with its agent builder, collect-and-train loop
and trainer (`a2c`, `dqn`), the per-process trainer pool (`pool`), evaluation games
(`evaluation`), progress rows (`progress`), the events a run reports (`events`) and the CPU it
ran on (`machine`). It imports `experiment`, `agents` and `envs`; never `analysis` or `grid`."""
