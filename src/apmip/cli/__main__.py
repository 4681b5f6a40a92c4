import sys

from apmip.cli import main

sys.exit(main())
