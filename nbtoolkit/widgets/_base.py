"""What every composite widget shares: the root widget, settings capture, message helpers.

A composite is a plain object that *holds* an ipywidgets tree (``.widget``) and its parts as
attributes, so tests can set ``.value`` and call ``.click()`` on them without a browser.
ipywidgets is imported inside functions, never at module level.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from .. import config
from ..reports.render import macro
from ..errors import NbtError

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

# Colours shared by the tables and status labels (readable on light and dark themes).
OK = "#1a7f37"
BAD = "#cf222e"
WARN = "#9a6700"
MUTED = "#6e7781"
BAD_BG = "rgba(207, 34, 46, 0.12)"
FRAGMENTS = "fragments.html.j2"  # the widgets' small HTML pieces (reports/templates)


class Composite:
    """Base of the nbtoolkit widgets: displays as its root ``widget``.

    The settings in effect when it was built (``%config Nbt.*``) are captured and re-applied
    around every callback, so a button pressed later talks to the same store.
    """

    widget: Any

    def __init__(self) -> None:
        self._settings = dataclasses.asdict(config.current_overrides())

    @contextlib.contextmanager
    def settings(self) -> Iterator[None]:
        with config.overrides(**self._settings):
            yield

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def error_html(exc: BaseException) -> str:
    """One red line for an NbtError (the same sentence a magic would print)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return macro(FRAGMENTS, "error", text=text, colour=BAD)


def guarded(out: Any, action: Callable[[], str]) -> bool:
    """Run ``action`` (returns HTML) and put its result, or its NbtError, into HTML widget ``out``.

    Anything that is not an :class:`NbtError` is a bug and propagates (ipywidgets logs it).
    Returns True when the action succeeded.
    """
    try:
        out.value = action()
        return True
    except NbtError as exc:
        out.value = error_html(exc)
        return False


def html_table(frame: pd.DataFrame, *, css_class: str, row_style: Callable[[pd.Series], str] | None = None,
               tone: Callable[[pd.Series], str] | None = None) -> str:
    """The reports' one table, in a div tagged with a CSS class for tests and the browser;
    ``tone(row)`` marks a row's meaning (class ``nbt-<tone>``), ``row_style(row)`` its theme colours."""
    from ..reports.render import frame_table, safe

    return macro(FRAGMENTS, "wrapped", css_class=css_class,
                 body=safe(frame_table(frame, row_style=row_style, tone=tone)))


def figure_png(fig: Figure) -> bytes:
    """PNG bytes of a matplotlib figure, which is then closed (no inline duplicate, no leak)."""
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buf.getvalue()
