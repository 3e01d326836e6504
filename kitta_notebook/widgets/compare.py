"""`Compare`: a result next to its input (or several results), under one set of controls.

The player is a thin anywidget view over plain synced state (`current_time`,
`playing`, `rate`); the synchronisation lives in a small ES module shipped
beside this file (`compare.js`). Media the browser may not reach were fetched
by the kernel when the tiles were resolved (`display.compare`) and travel as
binary buffers, played from Blob URLs, so it works on Binder. The static side
by side goes out first, as its own output, and the player hides it while it
is drawn (`widgets._frontend.Snapshot`): a saved notebook reopened without
its kernel, nbviewer or a frontend without widgets shows the static view.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets

from ..display.compare import (
    DEFAULT_FPS,
    GRID_STYLE,
    LABEL_STYLE,
    MEDIA_STYLE,
    PLAYER_STYLE,
    PROBLEM_STYLE,
    TILE_STYLE,
    StaticCompare,
    Tile,
    caption_text,
    label_text,
)
from ..errors import ValidationError
from ..i18n import Lang
from ._frontend import Snapshot, require_widget_frontend

if TYPE_CHECKING:
    from ..models import LipSyncTask

_ESM = Path(__file__).with_name("compare.js")
_CONTROL_TEXTS = ("play", "pause", "frame_back", "frame_forward", "sound", "mute_all", "speed")
# The static view's styles (one source), then the controls' own.
_CSS = f"""
.kitta-compare-player {{ {PLAYER_STYLE} }}
.kitta-compare-grid {{ {GRID_STYLE} }}
.kitta-compare-tile {{ {TILE_STYLE} }}
.kitta-compare-label {{ {LABEL_STYLE} }}
.kitta-compare-media {{ {MEDIA_STYLE} }}
.kitta-compare-problem {{ {PROBLEM_STYLE} }}
.kitta-compare-controls {{ display: flex; gap: 8px; align-items: center; margin-top: 8px;
  flex-wrap: wrap; }}
.kitta-compare-controls button {{ min-width: 34px; height: 28px; cursor: pointer; }}
.kitta-compare-seek {{ flex: 1 1 200px; }}
.kitta-compare-time {{ font-variant-numeric: tabular-nums; color: #59636e; }}
"""


def _tile_state(tile: Tile, lang: Lang) -> dict[str, Any]:
    """What the view needs of a tile; bytes go as a binary buffer, not base64."""
    return {
        "role": tile.role,
        "kind": tile.kind,
        "caption": caption_text(tile, lang),
        "url": tile.url if tile.data is None else None,
        "data": tile.data,
        "mime": tile.mime,
        "problem": tile.problem,
    }


class ComparePlayer(anywidget.AnyWidget):  # type: ignore[misc]
    """The player: plain synced state; `compare.js` keeps every video in step with it."""

    _esm = _ESM.read_text(encoding="utf-8")
    _css = _CSS
    tiles: Any = traitlets.List().tag(sync=True)
    texts: Any = traitlets.Dict().tag(sync=True)
    fps = traitlets.Float(DEFAULT_FPS).tag(sync=True)
    current_time = traitlets.Float(0.0).tag(sync=True)
    playing = traitlets.Bool(False).tag(sync=True)
    rate = traitlets.Float(1.0).tag(sync=True)
    duration = traitlets.Float(0.0).tag(sync=True)
    snapshot_class = traitlets.Unicode("").tag(sync=True)


class Compare(StaticCompare):
    """Compare a result with its input, or several results with each other.

    `Compare(task)` shows the input (video, or the image in image mode) and the
    result; `Compare(a, b, ...)` the results side by side, labelled by
    `labels`, else each task's batch key or journal labels, else its id. The
    input is read from the task (the request this toolkit recorded when it
    created it); pass `source=URL` for a task created elsewhere. One set of
    controls plays, pauses, seeks and steps frames (`fps`) in every video at
    once; the input is muted. `player` is the widget. Takes `StaticCompare`'s arguments
    (`source`, `labels`, `show_source`, `embed`, `max_bytes`, `lang`), or `tiles`
    resolved already (`display.compare.resolve_tiles`, e.g. on a worker thread, so the
    kernel's loop never waits for the media) instead of `tasks`.
    """

    def __init__(self, *tasks: LipSyncTask, fps: float = DEFAULT_FPS, **options: Any) -> None:
        require_widget_frontend(
            "Compare",
            "show the static side by side: "
            "kitta_notebook.display.compare.StaticCompare(task) (same arguments).",
        )
        if not fps > 0:
            raise ValidationError([("fps", f"fps must be a positive number, not {fps!r}.")])
        self.fps = float(fps)
        super().__init__(*tasks, **options)
        self._snapshot = Snapshot(lambda: (self.to_html(), repr(self)))
        self.player = ComparePlayer(
            tiles=[_tile_state(tile, self.lang) for tile in self.tiles],
            texts={key: label_text(key, self.lang) for key in _CONTROL_TEXTS},
            fps=self.fps,
            snapshot_class=self._snapshot.css_class,
        )

    # --- the kernel's side of the controls ---------------------------------------
    def play(self) -> None:
        self.player.playing = True

    def pause(self) -> None:
        self.player.playing = False

    def seek(self, seconds: float) -> None:
        self.player.current_time = max(0.0, float(seconds))

    def step(self, frames: int = 1) -> None:
        """Pause and move by whole frames (at `fps`)."""
        self.player.playing = False
        self.player.current_time = max(0.0, self.player.current_time + frames / self.fps)

    @property
    def current_time(self) -> float:
        """Where the browser last said the videos are (seconds)."""
        return float(self.player.current_time)

    # --- views ---------------------------------------------------------------------
    def _ipython_display_(self) -> None:
        """The static side by side, then the player, which hides it while it is drawn:
        after a restart a saved notebook shows the static view, never a broken widget."""
        self._snapshot.display(self.player, f"Compare player: {len(self.tiles)} views")

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:  # type: ignore[override]
        """The player, plus the static side by side for wherever the player cannot run."""
        fallback = super()._repr_mimebundle_()
        bundle: Any = self.player._repr_mimebundle_(**kwargs)
        data, metadata = bundle if isinstance(bundle, tuple) else (bundle, {})
        return {**data, **fallback}, metadata
