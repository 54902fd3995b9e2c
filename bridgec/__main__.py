import sys

from bridgec.driver.cli import main

sys.exit(main())
