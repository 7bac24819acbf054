"""``python -m sigstack``: the same command as the ``sigstack`` script."""

from sigstack.cli.main import entry

if __name__ == "__main__":
    entry()
