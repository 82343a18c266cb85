"""Errors a user can fix: the CLI prints them on one line and exits with code 2."""


class UserError(Exception):
    """Bad input or usage: a missing file, an unknown class, an empty range...

    The message is one line that says what is wrong and what to do about it.
    """


class Terminated(BaseException):
    """SIGTERM arrived (the CLI raises it from its signal handler): unwinds like KeyboardInterrupt, so that
    every ``finally`` cleans up (partial files, staging folders, ffmpeg children), and exits with 143."""


class VideoNote(UserWarning):
    """Something about an input that videocap worked around and the user should know (one line, e.g. a
    file whose frame times are unusable); the CLI prints it as ``videocap: note: ...``."""
