"""What every live view shares: a document queue, drawing on demand or on a GUI timer.

A view is a Bluesky callback. Called by the RunEngine it only puts the
document in a queue (``queue.SimpleQueue``: thread-safe, unbounded), so it
never holds the RunEngine back. Drawing happens elsewhere:

- at a display, :meth:`LiveView.show` opens a pyplot window and starts a
  timer of the GUI's own event loop; each tick takes every queued document
  into the view's arrays and draws once. Lines that arrive faster than the
  timer ticks are all kept and drawn together at the next tick: the view
  drops frames of the picture, never data;
- headless (tests, scripts, the README's figures), :meth:`LiveView.render_png`
  does the same once and writes the figure with the Agg canvas, without
  pyplot and without touching the process's matplotlib backend.
"""

from __future__ import annotations

import queue
from pathlib import Path

import numpy as np

from autoscope.errors import ConfigurationError

__all__ = ["BACKGROUND", "LiveView", "nice_length"]

#: Colour of what has not been measured yet (a grey no colour map here contains).
BACKGROUND = (0.6, 0.6, 0.6, 1.0)


def nice_length(span: float, fraction: float = 0.2) -> float:
    """A 1-2-5 length near ``fraction`` of ``span`` (a scale bar's length)."""
    if not np.isfinite(span) or span <= 0:
        raise ConfigurationError(f"span {span!r} must be a positive length")
    target = span * fraction
    power = 10.0 ** np.floor(np.log10(target))
    for step in (5.0, 2.0, 1.0):
        if step * power <= target:
            return float(step * power)
    return float(power)


def length_label(nm: float) -> str:
    """``"5 nm"``, ``"200 nm"``, ``"2 µm"``, ``"0.5 nm"``."""
    if nm >= 1000:
        return f"{nm / 1000:g} µm"
    return f"{nm:g} nm"


class LiveView:
    """Base of the live views: queue documents now, draw them later.

    Parameters
    ----------
    figure : matplotlib.figure.Figure, optional
        Where to draw; default a new figure on the Agg canvas (no pyplot).
    figsize : (float, float)
        Size of that new figure in inches.
    """

    def __init__(self, figure=None, figsize=(9.0, 6.0)):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        if figure is None:
            figure = Figure(figsize=figsize, dpi=100)
            FigureCanvasAgg(figure)
        self.figure = figure
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._timer = None
        self._needs_layout = True
        self._changed = False

    # --- the callback: never more than a put -------------------------------------------

    def __call__(self, name: str, doc: dict) -> None:
        self._queue.put((name, doc))

    @property
    def pending(self) -> int:
        """Documents queued and not yet taken into the view."""
        return self._queue.qsize()

    # --- the drawing side ----------------------------------------------------------------

    def drain(self) -> int:
        """Take every queued document into the view's arrays; return how many."""
        n = 0
        while True:
            try:
                name, doc = self._queue.get_nowait()
            except queue.Empty:
                return n
            n += 1
            if name == "event_page":
                from event_model import unpack_event_page

                for event in unpack_event_page(doc):
                    self._changed |= bool(self.handle("event", event))
            else:
                self._changed |= bool(self.handle(name, doc))

    def update(self) -> bool:
        """Drain the queue and, if anything changed, draw once; True if it drew."""
        self.drain()
        if not self._changed:
            return False
        self._changed = False
        if self._needs_layout:
            self.figure.clear()
            self.layout()
            self._needs_layout = False
        self.draw()
        self.figure.canvas.draw_idle()
        return True

    def render_png(self, path, dpi: int | None = None) -> Path:
        """Draw what has arrived so far and write it as a PNG (headless, Agg).

        Parameters
        ----------
        path : str or path-like
            The file to write (its folder must exist).
        dpi : int, optional
            Resolution; default the figure's.
        """
        path = Path(path)
        if not path.parent.is_dir():
            raise ConfigurationError(f"folder {path.parent} for the PNG does not exist")
        self._changed = True  # a render always draws, also before the first document
        self.update()
        self.figure.savefig(path, dpi=dpi or self.figure.dpi, facecolor="white")
        return path

    def show(self, interval_ms: int = 100, title: str | None = None):
        """Open a window (pyplot) and redraw from the queue on its GUI timer.

        Parameters
        ----------
        interval_ms : int
            Timer period; at most one redraw per tick, however many lines arrived.
        title : str, optional
            Window title (default the view's class name).
        """
        if not isinstance(interval_ms, int) or interval_ms < 10:
            raise ConfigurationError(f"interval_ms {interval_ms!r} must be an integer >= 10")
        import matplotlib.pyplot as plt

        size = tuple(self.figure.get_size_inches())
        self.figure = plt.figure(num=title or type(self).__name__, figsize=size)
        self._needs_layout = True
        self._timer = self.figure.canvas.new_timer(interval=interval_ms)
        self._timer.add_callback(self.update)
        self._timer.start()
        plt.show(block=False)
        return self

    # --- what each view supplies ---------------------------------------------------------

    def handle(self, name: str, doc: dict) -> bool:
        """Take one document into the view's state; True if the picture changed."""
        raise NotImplementedError

    def layout(self) -> None:
        """Make the axes of the current run (the figure is empty)."""
        raise NotImplementedError

    def draw(self) -> None:
        """Update the artists from the view's state."""
        raise NotImplementedError

    def relayout(self) -> None:
        """Ask for new axes at the next draw (a new run, another shape)."""
        self._needs_layout = True
        self._changed = True
