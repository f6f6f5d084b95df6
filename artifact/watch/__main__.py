"""`python -m artifact.watch`: the `pg-softq-play` command (`artifact.watch.cli`)."""
import sys

from artifact.watch.cli import main

sys.exit(main())
