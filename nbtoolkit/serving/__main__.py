"""``python -m nbtoolkit.serving``: a background server (``serve(..., background=True)``).

The parent checked the settings and hands them over in ``NBT_SERVE_SETTINGS`` (JSON, every field);
this process serves with exactly those, as ``--workers N`` processes do, and exits as ``nbt serve``
does (2 with one line on a start-up problem).
"""

from __future__ import annotations

import os
import sys


def main() -> int:
    from ..helper_process import die_with_parent

    # First thing, as every helper process does: a background server ends with the notebook (or
    # script) that started it. (Set here, not in a preexec_fn: forking a process with threads and
    # running Python in the child before exec can deadlock.)
    die_with_parent()
    from ..errors import BadInput, NbtError
    from .server import run
    from .settings import ENV, ServeSettings

    try:
        if ENV not in os.environ:
            raise BadInput(f"python -m nbtoolkit.serving serves settings handed over in {ENV} by "
                           "serve(..., background=True); to start a server yourself run `nbt serve NAME`.")
        return run(ServeSettings.from_json(os.environ.pop(ENV)))
    except NbtError as exc:
        print(f"nbt serve: {' '.join(str(exc).split())}", file=sys.stderr, flush=True)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
