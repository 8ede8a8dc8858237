"""`python -m int8ptq.cli`: the same as `int8ptq`."""

import sys

from int8ptq.cli.app import main

sys.exit(main())
