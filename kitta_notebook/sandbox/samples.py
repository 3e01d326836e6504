"""The committed sample media, described by ``samples/manifest.json``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["SAMPLES_DIR", "Samples", "load_samples"]

SAMPLES_DIR = Path(__file__).resolve().parent / "samples"


@dataclass(frozen=True)
class Samples:
    """Sample key -> file name, content type and (for audio/video) duration."""

    directory: Path
    files: dict[str, str]
    content_types: dict[str, str]
    durations: dict[str, float]

    def key_of(self, file_name: str) -> str | None:
        """The sample key served under ``/samples/<file_name>``, if any."""
        for key, file in self.files.items():
            if file == file_name:
                return key
        return None


def load_samples(directory: Path = SAMPLES_DIR) -> Samples:
    manifest: dict[str, dict[str, Any]] = json.loads(
        (directory / "manifest.json").read_text(encoding="utf-8")
    )
    return Samples(
        directory=directory,
        files={k: str(v["file"]) for k, v in manifest.items()},
        content_types={k: str(v["contentType"]) for k, v in manifest.items()},
        durations={
            k: float(v["durationSeconds"]) for k, v in manifest.items() if "durationSeconds" in v
        },
    )
