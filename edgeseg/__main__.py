import sys

from edgeseg.cli import main

sys.exit(main())
