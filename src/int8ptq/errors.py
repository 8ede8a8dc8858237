"""The one exception type that reaches users as a one-line message (exit code 2)."""


class UserError(Exception):
    """Bad input from the user: a missing file, a bad model, a config typo.

    The CLI prints ``str(err)`` on one line and exits with code 2.
    """
