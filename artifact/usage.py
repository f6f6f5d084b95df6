"""Command-line usage errors, shared by the project's commands (`artifact.grid.cli`'s run_all.sh,
`artifact.watch.cli`'s pg-softq-play): `UsageError`, a bad argument refused before any work with
exit status 2, and `run_command`, each command's `main` that prints it.
"""
from __future__ import annotations

import sys


class UsageError(SystemExit):
  """A bad argument, refused before any work: exit status 2 (as argparse's own errors). `main`
  prints the message (which names the bad value and the allowed ones) to stderr; str(e) is it."""

  def __init__(self, message: str):
    super().__init__(message)
    self.code = 2


INTERRUPTED = 130               # exit status after Ctrl-C (128 + SIGINT), as a shell reports it


def run_command(command, argv=None) -> int:
  """`command(argv)`'s exit status; a UsageError it raises has its message printed to stderr
  first and is raised on (exit status 2); Ctrl-C (KeyboardInterrupt) outside the grid's own
  handling prints one line instead of a traceback and returns 130. The `main` of each command
  line."""
  try:
    return command(argv)
  except UsageError as e:
    print(e, file=sys.stderr, flush=True)
    raise
  except KeyboardInterrupt:
    print("interrupted (Ctrl-C): stopped; every file is written whole or not at all",
          file=sys.stderr, flush=True)
    return INTERRUPTED
