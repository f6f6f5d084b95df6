"""Batched tf-agents environments: real Atari (ale-py) and CartPole (tests).

Each name is imported from the module that defines it: `envs.atari` (`make_atari_env`,
`make_rgb_vector_env`), `envs.batched_env` (`BatchedGymnasiumEnv`, `GroupedBatchedEnv`,
`FinishedGame`), `envs.cartpole` (`make_cartpole_env`) and `envs.games` (the game list, the frame
skip and the game cap, without TensorFlow).
"""
