"""Every user-facing label in English and Chinese, and the status colours.

One table (`TEXTS`, at the end of this module) serves the HTML views and the widgets,
so a status reads the same everywhere. Add a key there, not a string literal in a view;
the checks' texts (preflight, prices, findings) are in `_labels_checks`. A problem
the core finds (a medium, a create's arguments) is a `Finding`: its key and facts, so
every view says it from the table, never by parsing its English.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ._labels_checks import CHECK_TEXTS
from ._labels_checks import Lang as Lang

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


def text(key: str, lang: Lang = "en", **values: object) -> str:
    """The label for `key` in `lang`, formatted with `values`."""
    english, chinese = TEXTS[key]
    template = chinese if lang == "zh" else english
    return template.format(**values) if values else template


class Finding(str):
    """A sentence of the label table with its facts: the English text itself (a `str`, so a
    problem reads the same in an exception, a log or a comparison) that any view can say
    in another language (`say`) without parsing it. A fact may be a `Finding` too (a
    format's name, a reason), said in the same language."""

    key: str
    facts: dict[str, object]

    def __new__(cls, key: str, /, **facts: object) -> Finding:
        self = super().__new__(cls, text(key, "en", **facts))
        self.key, self.facts = key, facts
        return self

    def __getnewargs_ex__(self) -> tuple[tuple[str], dict[str, object]]:
        return (self.key,), self.facts  # pickled and copied by its key and facts

    def say(self, lang: Lang) -> str:
        if lang == "en":
            return str(self)
        facts = {
            name: value.say(lang) if isinstance(value, Finding) else value
            for name, value in self.facts.items()
        }
        return text(self.key, lang, **facts)


def say(message: str, lang: Lang) -> str:
    """`message` in `lang` when it is a `Finding`; any other text as it is (a server's words)."""
    return message.say(lang) if isinstance(message, Finding) else message


def check_lang(lang: str) -> Lang:
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {', '.join(LANGS)}, got {lang!r}")
    return lang  # type: ignore[return-value]


# --- the label table: (English, Chinese) by key ------------------------------------------
TEXTS: Mapping[str, tuple[str, str]] = {
    **CHECK_TEXTS,
    # task card
    "task": ("Task", "任务"),
    "model": ("Model", "模型"),
    "input_mode": ("Input mode", "输入模式"),
    "credits": ("Credits charged", "消耗积分"),
    "created": ("Created", "创建时间"),
    "started": ("Started", "开始时间"),
    "completed": ("Completed", "完成时间"),
    "elapsed": ("Elapsed", "耗时"),
    "error": ("Error", "错误"),
    "result": ("Result video", "结果视频"),
    "open_video": ("Open the video", "打开视频"),
    "partial_note": (
        "List item: the list endpoint omits model, errors and times; call task.refresh().",
        "列表项不含模型、错误和时间信息；调用 task.refresh() 获取完整详情。",
    ),
    "video_too_large": (
        "The video is too large to embed ({size}); download it with task.download().",
        "视频过大（{size}），无法内嵌；请用 task.download() 下载。",
    ),
    "video_unavailable": (
        "The video could not be fetched for embedding ({reason}). Use task.download().",
        "无法获取视频用于内嵌（{reason}）。请使用 task.download()。",
    ),
    "video_link_expired": (
        "Link expired: the result host refuses this link now. Call task.refresh() for "
        "a fresh link and show the task again.",
        "链接已过期：结果服务器不再接受此链接。请调用 task.refresh() 获取新链接后重新显示任务。",
    ),
    "video_slow": (
        "The video host is slow, so the video was not embedded. Open the link below, or "
        "save the file with task.download().",
        "视频服务器响应太慢，未内嵌视频。请打开下方链接，或用 task.download() 保存文件。",
    ),
    "video_refused": (
        "The result URL is not an http(s) link and was not rendered.",
        "结果链接不是 http(s) 地址，已拒绝显示。",
    ),
    # live view
    "watching": ("live, refreshing every few seconds", "实时更新中"),
    "retrying": ("connection problem, retrying…", "连接异常，正在重试…"),
    "watch_stopped": ("stopped watching", "已停止跟踪"),
    "watch_timeout": (
        "still running after {seconds} s; the task continues on the server",
        "{seconds} 秒后仍未完成；任务仍在服务器上继续",
    ),
    # pages
    "no_tasks": ("No tasks on this page.", "本页没有任务。"),
    "page_of": (
        "offset {offset}, {count} tasks, more: {more}",
        "偏移 {offset}，{count} 个任务，更多：{more}",
    ),
    "yes": ("yes", "是"),
    "no": ("no", "否"),
    # batches: create_many / wait_many progress, summary and gallery
    "batch_created": ("created", "已创建"),
    "batch_existing": ("already created", "此前已创建"),
    "batch_rejected": ("rejected", "被拒绝"),
    "batch_unknown": ("outcome unknown", "结果未知"),
    "batch_skipped": ("skipped", "已跳过"),
    "batch_not_sent": ("not sent", "未发送"),
    "batch_queued": ("queued", "待发送"),
    "batch_eta": ("ETA", "预计剩余"),
    "batch_title": ("Batch of {count} items", "批量任务：{count} 项"),
    "batch_problems": ("{count} items have no task", "{count} 项没有得到任务"),
    "batch_tasks": ("Tasks", "任务"),
    "batch_index": ("#", "序号"),
    "batch_key": ("Key", "键"),
    "batch_outcome": ("Outcome", "结果"),
    "batch_rate_limited": (
        "rate limited {count}× (paused {seconds} s)",
        "被限流 {count} 次（暂停 {seconds} 秒）",
    ),
    "batch_unknown_note": (
        "An item with an unknown outcome may have created a task (credits may be spent); "
        "it was not resent. Check client.lip_sync.list(status='pending') before creating "
        "it again.",
        "结果未知的项可能已经创建了任务（可能已扣积分），未重新发送。再次创建前请先用 "
        "client.lip_sync.list(status='pending') 查看。",
    ),
    "gallery_more": ("… and {count} more", "……另有 {count} 项"),
    # LipSyncPanel (kitta_notebook.widgets)
    "panel_title": ("Kitta lip sync", "Kitta 口型同步"),
    "panel_mode_video": ("Video", "视频"),
    "panel_mode_image": ("Image", "图片"),
    "panel_video_url": ("Video URL", "视频 URL"),
    "panel_image_url": ("Image URL", "图片 URL"),
    "panel_audio_url": ("Audio URL", "音频 URL"),
    "panel_reference_image_url": ("Reference image", "参考图片"),
    "panel_duration": ("Duration (s)", "时长（秒）"),
    "panel_duration_placeholder": (
        "audio length in seconds, e.g. 12 (optional)",
        "音频时长（秒），例如 12（可选）",
    ),
    "panel_optional": ("optional", "可选"),
    "panel_use_samples": ("Use samples", "使用示例素材"),
    "panel_samples_filled": ("Sample media from the sandbox filled in.", "已填入沙盒的示例素材。"),
    "panel_submit": ("Submit", "提交"),
    "panel_submitting": ("Submitting…", "提交中…"),
    "panel_submitted": ("Task {task_id} created.", "任务 {task_id} 已创建。"),
    "panel_no_tasks": ("No tasks submitted yet.", "尚未提交任务。"),
    "panel_estimate": (
        "Estimated charge: {credits} credits ({model}, {seconds} s, price published by the server)",
        "预计消耗：{credits} 积分（{model}，{seconds} 秒，服务器公布的价格）",
    ),
    "panel_estimate_need_duration": (
        "Enter the audio duration to estimate the charge ({rate} credits per second).",
        "填写音频时长即可估算消耗（每秒 {rate} 积分）。",
    ),
    "panel_estimate_unknown": (
        "Price unknown: the service publishes no price list. The charge is shown on "
        "the task (credits charged) once it is created.",
        "价格未知：服务未公布价目表。任务创建后会显示实际消耗积分。",
    ),
    "panel_sandbox_badge": (
        "SANDBOX: free, results are not real lip sync",
        "沙盒：免费，结果不是真实的口型同步",
    ),
    "panel_token_placeholder": ("paste your API token and press Enter", "粘贴 API 令牌后按回车"),
    "panel_token_needed": (
        "No API token found (KITTA_API_TOKEN). Paste it below: it is used for this "
        "session only and never saved in the notebook.",
        "未找到 API 令牌（KITTA_API_TOKEN）。请在下方粘贴：仅用于本次会话，不会保存到笔记本中。",
    ),
    "panel_token_set": (
        "API token set for this session (not saved in the notebook).",
        "已为本次会话设置 API 令牌（不会保存到笔记本）。",
    ),
    "panel_token_empty": ("The API token is empty.", "API 令牌为空。"),
    # the panel served to others (widgets/_visitors.py)
    "visitor_own_token": (
        "This app is shared: tasks here are paid with your own Kitta API token, never the "
        "server's. Your token stays in this session only and is sent only to the API.",
        "此应用为共享应用：此处的任务使用您自己的 Kitta API 令牌付费，绝不使用服务器的令牌。"
        "您的令牌仅在本次会话中使用，只发送给 API。",
    ),
    "visitor_operator_pays": (
        "The app's operator pays for the tasks created here. This session may spend "
        "{cap} credits: {left} left; at most {n} submissions per minute.",
        "此处创建的任务由应用运营者付费。本次会话最多可用 {cap} 积分，剩余 {left}；"
        "每分钟最多提交 {n} 次。",
    ),
    "visitor_over_cap": (
        "Not sent: this task would cost about {cost} credits, more than the {left} left "
        "for this session.",
        "未发送：此任务约需 {cost} 积分，超过本次会话剩余的 {left} 积分。",
    ),
    "visitor_no_estimate": (
        "Not sent: the cost cannot be estimated (the audio's length could not be measured, "
        "or the service publishes no price), so this session's credit cap cannot be kept.",
        "未发送：无法估算费用（无法测出音频长度，或服务未公布价格），"
        "因此无法遵守本次会话的积分上限。",
    ),
    "visitor_rate": (
        "Not sent: at most {n} submissions per minute here; try again in {s} s.",
        "未发送：此处每分钟最多提交 {n} 次；请 {s} 秒后再试。",
    ),
    "visitor_token_refused": (
        "The service refused this API token (401): check it and paste it again. "
        "Nothing was created.",
        "服务拒绝了此 API 令牌（401）：请检查后重新粘贴。未创建任何任务。",
    ),
    "panel_fix_fields": (
        "Fix the marked fields; nothing was sent.",
        "请修正标出的字段；尚未发送任何请求。",
    ),
    "panel_no_loop": (
        "This panel needs a running event loop (a Jupyter kernel).",
        "此面板需要运行中的事件循环（Jupyter 内核）。",
    ),
    "panel_choose_file": ("Choose file", "选择文件"),
    "panel_or_file": ("or a local file", "或本地文件"),
    "panel_file_chosen": ("Local file: {name}", "本地文件：{name}"),
    "panel_checking": ("Checking…", "检查中…"),
    "panel_over_balance": (
        "This estimate ({credits} credits) is more than the account's balance "
        "({balance} credits): the service will refuse the task.",
        "预计消耗（{credits} 积分）超过账户余额（{balance} 积分）：服务将拒绝该任务。",
    ),
    "panel_media_problems": (
        "A medium cannot be used (see the marked field); nothing was sent.",
        "有素材无法使用（见标出的字段）；尚未发送任何请求。",
    ),
    # errors from the server, in words: each one sentence
    "err_400": ("The server refused the request: {detail}.", "服务器拒绝了该请求：{detail}。"),
    "err_400_plain": ("The server refused the request.", "服务器拒绝了该请求。"),
    "err_401": (
        "The API token is missing or invalid: check KITTA_API_TOKEN.",
        "API 令牌缺失或无效，请检查 KITTA_API_TOKEN。",
    ),
    "err_401_argument": (
        "The API token is missing or invalid: check the token passed as token=.",
        "API 令牌缺失或无效，请检查通过 token= 传入的令牌。",
    ),
    "err_401_entered": (
        "The API token is missing or invalid: check the token you entered.",
        "API 令牌缺失或无效，请检查您输入的令牌。",
    ),
    "err_402": (
        "Not enough credits for this task: top up the account or use a shorter audio.",
        "积分不足，无法创建此任务：请充值或使用更短的音频。",
    ),
    "err_402_balance": (
        "Not enough credits for this task (balance: {balance} credits): top up the "
        "account or use a shorter audio.",
        "积分不足，无法创建此任务（当前余额：{balance} 积分）：请充值或使用更短的音频。",
    ),
    "err_403": (
        "This account may not use this model or access this task.",
        "此账户无权使用该模型或访问该任务。",
    ),
    "err_403_model": (
        "This account may not use the model {model}: choose another model.",
        "此账户无权使用模型 {model}：请选择其他模型。",
    ),
    "err_404": ("No such task for this account.", "此账户下不存在该任务。"),
    "err_429": ("Too many requests: wait a moment and try again.", "请求过于频繁，请稍后再试。"),
    "err_4xx": (
        "The server refused the request with HTTP {status}: {detail}.",
        "服务器以 HTTP {status} 拒绝了该请求：{detail}。",
    ),
    "err_500": ("The service failed; try again later.", "服务出错，请稍后再试。"),
    "err_other_status": ("The server answered HTTP {status}.", "服务器返回 HTTP {status}。"),
    "err_download_expired": (
        "The result link has expired: call task.refresh() for a fresh one.",
        "结果链接已过期：请调用 task.refresh() 获取新链接。",
    ),
    "err_download_not_media": (
        "The result host sent {arrived} instead of a video.",
        "结果服务器返回的不是视频（{arrived}）。",
    ),
    "err_download_too_large": ("The video is larger than the size limit.", "视频超过大小上限。"),
    "err_download_timeout": (
        "The result host was too slow: the video did not arrive in time.",
        "结果服务器响应太慢：视频未能按时下载完成。",
    ),
    "err_download_failed": (
        "The video could not be fetched: the connection failed.",
        "无法获取视频：连接失败。",
    ),
    "err_connection": (
        "Could not reach the service. Check the network and the base URL.",
        "无法连接服务，请检查网络和服务地址。",
    ),
    "err_timeout": ("The service did not answer in time.", "服务响应超时。"),
    "err_may_have_created": (
        "The task may have been created anyway (credits may be spent): check the task "
        "list before submitting again.",
        "任务可能已经创建（可能已扣积分）：再次提交前请先查看任务列表。",
    ),
    "err_missing_token": (
        "No API token: set KITTA_API_TOKEN or paste it into the token field.",
        "缺少 API 令牌：请设置 KITTA_API_TOKEN 或在令牌输入框中粘贴。",
    ),
    "err_unexpected": ("Unexpected error ({kind}).", "意外错误（{kind}）。"),
    "err_server_said": ("Server message", "服务器信息"),
    "err_request_id": ("request id", "请求 ID"),
    # task card
    "card_status_pending": ("Waiting in the queue", "排队等待中"),
    "card_status_processing": ("Rendering the video", "正在生成视频"),
    "card_status_succeeded": ("Done", "已完成"),
    "card_status_failed": ("The task failed", "任务失败"),
    "card_status_unknown": ("Status not recognised", "无法识别的状态"),
    "card_fetching_video": ("Fetching the video…", "正在获取视频…"),
    "card_save": ("Save video file", "保存视频文件"),
    "card_saved": ("Saved to {path}", "已保存到 {path}"),
    "card_browser_download": ("Click to download {name}", "点击下载 {name}"),
    "card_save_failed": ("Could not save: {reason}", "保存失败：{reason}"),
    "card_check_again": ("Check again", "再次查询"),
    "card_stopped": ("Stopped following this task: {reason}", "已停止跟踪此任务：{reason}"),
    # HistoryBrowser and client.history (kitta_notebook.history)
    "history_title": ("Task history", "任务历史"),
    "history_status": ("Status", "状态"),
    "history_task": ("Task", "任务"),
    "history_mode": ("Mode", "模式"),
    "history_model": ("Model", "模型"),
    "history_created": ("Created", "创建时间"),
    "history_duration": ("Duration", "时长"),
    "history_credits": ("Credits", "积分"),
    "history_labels": ("Labels", "标签"),
    "history_all_statuses": ("All statuses", "全部状态"),
    "history_all_modes": ("All modes", "全部模式"),
    "history_creator": ("Created by", "创建者"),
    "history_everyone": ("Everyone", "所有人"),
    "history_creator_unknown": ("not known", "未知"),
    "history_mode_video": ("video", "视频"),
    "history_mode_image": ("image", "图片"),
    "history_search": ("Search URLs or task ids", "搜索 URL 或任务 ID"),
    "history_sort_created_desc": ("Newest first", "最新优先"),
    "history_sort_created_asc": ("Oldest first", "最早优先"),
    "history_sort_credits_desc": ("Most credits", "积分最多"),
    "history_sort_credits_asc": ("Fewest credits", "积分最少"),
    "history_prev": ("‹ Previous", "‹ 上一页"),
    "history_next": ("Next ›", "下一页 ›"),
    "history_page": ("Page {page} of {pages}", "第 {page} / {pages} 页"),
    "history_count": ("{count} tasks", "{count} 个任务"),
    "history_count_one": ("{count} task", "{count} 个任务"),
    "history_count_more": ("{count}+ tasks", "{count}+ 个任务"),
    "history_count_more_hint": (
        "more match than were counted: narrow the search for totals by state and credits",
        "匹配的任务超过计数上限：缩小搜索范围即可查看各状态数量和消耗积分",
    ),
    "history_credits_total": ("Credits charged: {credits}", "消耗积分：{credits}"),
    "history_empty": ("No tasks match these filters.", "没有符合筛选条件的任务。"),
    "history_watch": ("Watch", "实时跟踪"),
    "history_refresh": ("Refresh", "刷新"),
    "history_download": ("Download", "下载"),
    "history_save_labels": ("Save labels", "保存标签"),
    "history_labels_placeholder": ("labels, comma separated", "标签，用逗号分隔"),
    "history_sync": ("Sync with server", "与服务器同步"),
    "history_syncing": ("Syncing with the server…", "正在与服务器同步…"),
    "history_synced": (
        "Server list read: {new} tasks new to this journal.",
        "已读取服务器列表：新增 {new} 个任务。",
    ),
    "history_reconcile": ("Reconcile", "核对"),
    "history_reconciled": (
        "{matched} matched to server tasks, {absent} never created, {unresolved} still unknown.",
        "{matched} 个已匹配到服务器任务，{absent} 个从未创建，{unresolved} 个仍未知。",
    ),
    "history_labels_saved": ("Labels saved.", "标签已保存。"),
    "history_downloaded": ("Saved to {path}", "已保存到 {path}"),
    "history_working": ("Working…", "处理中…"),
    "history_failed_action": ("Failed: {reason}", "失败：{reason}"),
    "history_from_server": ("created elsewhere", "在其他地方创建"),
    "history_sent": ("What was sent", "已发送的内容"),
    "history_requested": ("Sent at", "发送时间"),
    "history_outcome_error": ("What happened", "发生了什么"),
    "history_downloaded_to": ("Downloaded to", "已下载到"),
    "history_note_outcome_unknown": (
        "The create request may have reached the server: a task may exist and credits "
        "may be spent. Reconcile to find it before creating it again.",
        "创建请求可能已到达服务器：任务可能已存在并已扣除积分。请先核对，再决定是否重新创建。",
    ),
    "history_note_rejected": (
        "The server refused this request (or it never left this machine): nothing was "
        "created and nothing was charged.",
        "服务器拒绝了此请求（或请求未发出）：未创建任务，也未扣除积分。",
    ),
    "history_note_not_created": (
        "Reconcile found no matching task on the server: it was never created.",
        "核对后在服务器上未找到对应任务：该任务从未创建。",
    ),
    "journal_network_fs": (
        "The task journal {path} is on a network file system ({kind}), where SQLite's "
        "file locks are not safe: kernels sharing it may lose or double entries. For a "
        "team, set KITTA_JOURNAL_URL=postgresql://… to keep the journal on PostgreSQL; "
        "alone, set KITTA_HOME to a local folder.",
        "任务日志 {path} 位于网络文件系统（{kind}）上，SQLite 的文件锁在此并不可靠："
        "共享它的多个内核可能丢失或重复记录。团队使用请设置 "
        "KITTA_JOURNAL_URL=postgresql://… 将日志存放在 PostgreSQL；"
        "单人使用请将 KITTA_HOME 设为本地文件夹。",
    ),
    "history_no_journal": (
        "No task journal for this client ({reason}).",
        "此客户端没有任务日志（{reason}）。",
    ),
    "history_compare": ("Compare with input", "与输入对比"),
    "history_comparing": ("Loading the comparison…", "正在加载对比…"),
    "vscode_audio_note": (
        "VS Code's notebook player plays H.264 video but not AAC audio, so this video "
        "may play silent here: download it or open it in a browser.",
        "VS Code 的笔记本播放器可播放 H.264 视频，但不支持 AAC 音频，"
        "此视频在这里可能没有声音：请下载或在浏览器中打开。",
    ),
    # --- Compare (display/compare.py, widgets/compare.py) ---
    "compare_source": ("Input", "输入"),
    "compare_result": ("Result", "结果"),
    "compare_no_source": (
        "The input of this task is not known here; pass source=URL.",
        "此处不知道该任务的输入；请传入 source=URL。",
    ),
    "compare_no_result": ("No result video yet ({status}).", "尚无结果视频（{status}）。"),
    "compare_refused": (
        "Not shown: only http(s) media URLs are played.",
        "未显示：只播放 http(s) 媒体地址。",
    ),
    "compare_too_large": (
        "Too large to bring through the kernel ({reason}); open the link.",
        "文件过大，无法经内核传送（{reason}）；请打开链接。",
    ),
    "compare_unavailable": ("Could not load the media ({reason}).", "无法加载媒体（{reason}）。"),
    "compare_over_budget": (
        "Not inlined: this view's size budget is spent; open the link.",
        "未内嵌：此视图的大小预算已用完；请打开链接。",
    ),
    "compare_not_kind": ("The file is not a playable {kind}.", "该文件不是可播放的{kind}。"),
    "compare_open": ("open", "打开"),
    "compare_static_note": (
        "Static view: run the cell again for one set of controls over all videos.",
        "静态视图：重新运行此单元即可用一组控件同时控制所有视频。",
    ),
    "compare_play": ("Play", "播放"),
    "compare_pause": ("Pause", "暂停"),
    "compare_frame_back": ("One frame back", "后退一帧"),
    "compare_frame_forward": ("One frame forward", "前进一帧"),
    "compare_sound": ("Sound", "声音"),
    "compare_mute_all": ("none", "无"),
    "compare_speed": ("Speed", "速度"),
}
