"""`python -m integration_tests.bench`.

The command line itself is in cli.py: the package imports it, and a package that imported its own
`__main__` would have it run twice under `-m`.
"""

from integration_tests.bench.cli import main

if __name__ == "__main__":
    main()
