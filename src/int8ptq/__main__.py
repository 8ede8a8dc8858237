"""`python -m int8ptq`: the same as the `int8ptq` command."""

import sys

from int8ptq.cli import main

sys.exit(main())
