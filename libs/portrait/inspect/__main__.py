import sys

from portrait.inspect.commands import main

sys.exit(main())
