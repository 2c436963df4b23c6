import sys

from search.compare.cli import main

sys.exit(main())
