import sys

from artifact.grid.cli import main

sys.exit(main())
