import sys

from bridgec.cli import main

sys.exit(main())
