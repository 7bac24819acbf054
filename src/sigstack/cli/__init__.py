"""The ``sigstack`` command: argument parsing and printing over the library API.

Only this package turns :class:`sigstack.errors.SigstackError` into exit codes and
stderr lines. Command modules import the library inside their ``run_*``
functions so that ``sigstack --version`` stays fast.
"""
