#!/usr/bin/env python
"""Django's command-line utility for GuardWatch.

`manage.py gdsim …` is a thin wrapper over `python -m gdsim …`: the GuardDuty simulator is its own
program, so it is started before Django (and the product's settings) are loaded.
"""

import os
import sys


def main() -> None:
    if sys.argv[1:2] == ["gdsim"]:
        os.execv(sys.executable, [sys.executable, "-m", "gdsim", *sys.argv[2:]])  # noqa: S606
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guardwatch.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
