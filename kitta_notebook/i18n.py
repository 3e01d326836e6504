"""Every user-facing label in English and Chinese, and the status colours.

One table serves the HTML views and the widgets, so a status reads the same
everywhere. Add a key here, not a string literal in a view.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Lang = Literal["en", "zh"]
LANGS: tuple[Lang, ...] = ("en", "zh")


@dataclass(frozen=True)
class StatusStyle:
    en: str
    zh: str
    color: str
    background: str
    icon: str


STATUS_STYLES: Mapping[str, StatusStyle] = {
    "pending": StatusStyle("pending", "排队中", "#7a4d00", "#fff4d6", "◔"),
    "processing": StatusStyle("processing", "处理中", "#0b4f8a", "#dcecfb", "◑"),
    "succeeded": StatusStyle("succeeded", "已完成", "#17622d", "#dcf5e3", "●"),
    "failed": StatusStyle("failed", "失败", "#9b1c1c", "#fde2e2", "✕"),
    "unknown": StatusStyle("unknown", "未知", "#444444", "#ececec", "?"),
}


def status_style(status: object) -> StatusStyle:
    """The style of a status; any value the contract does not list is 'unknown'."""
    return STATUS_STYLES.get(
        str(status) if status is not None else "unknown", STATUS_STYLES["unknown"]
    )


def status_label(status: object, lang: Lang = "en") -> str:
    style = status_style(status)
    label = style.zh if lang == "zh" else style.en
    known = status is not None and str(status) in STATUS_STYLES
    return label if known or status is None else f"{label} ({status})"


TEXTS: Mapping[str, Mapping[Lang, str]] = {
    # task card
    "task": {"en": "Task", "zh": "任务"},
    "model": {"en": "Model", "zh": "模型"},
    "input_mode": {"en": "Input mode", "zh": "输入模式"},
    "credits": {"en": "Credits charged", "zh": "消耗积分"},
    "created": {"en": "Created", "zh": "创建时间"},
    "started": {"en": "Started", "zh": "开始时间"},
    "completed": {"en": "Completed", "zh": "完成时间"},
    "elapsed": {"en": "Elapsed", "zh": "耗时"},
    "error": {"en": "Error", "zh": "错误"},
    "result": {"en": "Result video", "zh": "结果视频"},
    "download": {"en": "Download", "zh": "下载"},
    "open_video": {"en": "Open the video", "zh": "打开视频"},
    "partial_note": {
        "en": "List item: the list endpoint omits model, errors and times; call task.refresh().",
        "zh": "列表项不含模型、错误和时间信息；调用 task.refresh() 获取完整详情。",
    },
    "video_too_large": {
        "en": "The video is too large to embed ({size}); download it with task.download().",
        "zh": "视频过大（{size}），无法内嵌；请用 task.download() 下载。",
    },
    "video_unavailable": {
        "en": "The video could not be fetched for embedding ({reason}). Use task.download().",
        "zh": "无法获取视频用于内嵌（{reason}）。请使用 task.download()。",
    },
    "video_refused": {
        "en": "The result URL is not an http(s) link and was not rendered.",
        "zh": "结果链接不是 http(s) 地址，已拒绝显示。",
    },
    "sandbox_mark": {
        "en": "SANDBOX: not real lip sync",
        "zh": "沙盒：非真实口型同步",
    },
    # live view
    "watching": {"en": "live, refreshing every few seconds", "zh": "实时更新中"},
    "retrying": {"en": "connection problem, retrying…", "zh": "连接异常，正在重试…"},
    "watch_stopped": {"en": "stopped watching", "zh": "已停止跟踪"},
    "watch_timeout": {
        "en": "still running after {seconds} s; the task continues on the server",
        "zh": "{seconds} 秒后仍未完成；任务仍在服务器上继续",
    },
    # pages
    "no_tasks": {"en": "No tasks on this page.", "zh": "本页没有任务。"},
    "page_of": {
        "en": "offset {offset}, {count} tasks, more: {more}",
        "zh": "偏移 {offset}，{count} 个任务，更多：{more}",
    },
    "yes": {"en": "yes", "zh": "是"},
    "no": {"en": "no", "zh": "否"},
}


def text(key: str, lang: Lang = "en", **values: object) -> str:
    """The label for `key` in `lang`, formatted with `values`."""
    entry = TEXTS[key]
    template = entry.get(lang) or entry["en"]
    return template.format(**values) if values else template


def check_lang(lang: str) -> Lang:
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {', '.join(LANGS)}, got {lang!r}")
    return lang  # type: ignore[return-value]
