"""``python -m nbtoolkit.serving NAME ...`` — the same as ``nbt serve NAME ...`` (used for background servers)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from ..commands import ArgumentParser
    from ..commands.serving import _serve_args, _serve_kwargs
    from ..errors import NbtError
    from . import serve

    parser = ArgumentParser(prog="nbt serve")
    _serve_args(parser)
    try:
        args = parser.parse_args(sys.argv[1:] if argv is None else argv)
        return serve(args.name, **_serve_kwargs(args))
    except NbtError as exc:
        print(f"nbt serve: {' '.join(str(exc).split())}", file=sys.stderr, flush=True)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
