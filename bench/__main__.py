"""`python -m bench`: see the `bench` package docstring."""

from bench.run import main

raise SystemExit(main())
