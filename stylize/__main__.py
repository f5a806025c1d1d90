"""``python -m stylize`` is the same as the ``stylize`` console script."""

from stylize.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
