"""What an experiment is, without TensorFlow: the families' hyperparameters (`hparams`), the
registry of figures, conditions and claims (`registry`), the scales (`scales`), the RunSpec that
determines a run (`runspec`), where a run logs and evaluates in frames (`schedule`) and every random
stream of a run (`seeding`). It imports nothing of `artifact` but `files`, and of `agents` only
constants."""
