"""The ``landscape`` subcommands: parse flags, resolve the subject, call the library, print."""
