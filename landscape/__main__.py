"""``python -m landscape`` (and ``torchrun -m landscape``) runs the command line."""

from landscape.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
