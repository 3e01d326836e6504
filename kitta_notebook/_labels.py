"""The label table: every user-facing text, in English and Chinese (read via `i18n.text`).

Data only, kept apart from `i18n`'s helpers so each module stays one job; the media
check's texts (preflight, prices, findings) are in `_labels_checks`.
"""

from __future__ import annotations

from collections.abc import Mapping

from ._labels_checks import CHECK_TEXTS
from ._labels_checks import Lang as Lang

TEXTS: Mapping[str, Mapping[Lang, str]] = {
    **CHECK_TEXTS,
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
    "video_link_expired": {
        "en": "Link expired: the result host refuses this link now. Call task.refresh() for "
        "a fresh link and show the task again.",
        "zh": "链接已过期：结果服务器不再接受此链接。"
        "请调用 task.refresh() 获取新链接后重新显示任务。",
    },
    "video_slow": {
        "en": "The video host is slow, so the video was not embedded. Open the link below, or "
        "save the file with task.download().",
        "zh": "视频服务器响应太慢，未内嵌视频。请打开下方链接，或用 task.download() 保存文件。",
    },
    "video_refused": {
        "en": "The result URL is not an http(s) link and was not rendered.",
        "zh": "结果链接不是 http(s) 地址，已拒绝显示。",
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
    # batches: create_many / wait_many progress, summary and gallery
    "batch_created": {"en": "created", "zh": "已创建"},
    "batch_existing": {"en": "already created", "zh": "此前已创建"},
    "batch_rejected": {"en": "rejected", "zh": "被拒绝"},
    "batch_unknown": {"en": "outcome unknown", "zh": "结果未知"},
    "batch_skipped": {"en": "skipped", "zh": "已跳过"},
    "batch_not_sent": {"en": "not sent", "zh": "未发送"},
    "batch_queued": {"en": "queued", "zh": "待发送"},
    "batch_eta": {"en": "ETA", "zh": "预计剩余"},
    "batch_title": {"en": "Batch of {count} items", "zh": "批量任务：{count} 项"},
    "batch_problems": {
        "en": "{count} items have no task",
        "zh": "{count} 项没有得到任务",
    },
    "batch_tasks": {"en": "Tasks", "zh": "任务"},
    "batch_index": {"en": "#", "zh": "序号"},
    "batch_key": {"en": "Key", "zh": "键"},
    "batch_outcome": {"en": "Outcome", "zh": "结果"},
    "batch_rate_limited": {
        "en": "rate limited {count}× (paused {seconds} s)",
        "zh": "被限流 {count} 次（暂停 {seconds} 秒）",
    },
    "batch_unknown_note": {
        "en": "An item with an unknown outcome may have created a task (credits may be spent); "
        "it was not resent. Check client.lip_sync.list(status='pending') before creating "
        "it again.",
        "zh": "结果未知的项可能已经创建了任务（可能已扣积分），未重新发送。再次创建前请先用 "
        "client.lip_sync.list(status='pending') 查看。",
    },
    "gallery_more": {"en": "… and {count} more", "zh": "……另有 {count} 项"},
    # LipSyncPanel (kitta_notebook.widgets)
    "panel_title": {"en": "Kitta lip sync", "zh": "Kitta 口型同步"},
    "panel_mode_video": {"en": "Video", "zh": "视频"},
    "panel_mode_image": {"en": "Image", "zh": "图片"},
    "panel_video_url": {"en": "Video URL", "zh": "视频 URL"},
    "panel_image_url": {"en": "Image URL", "zh": "图片 URL"},
    "panel_audio_url": {"en": "Audio URL", "zh": "音频 URL"},
    "panel_reference_image_url": {"en": "Reference image", "zh": "参考图片"},
    "panel_duration": {"en": "Duration (s)", "zh": "时长（秒）"},
    "panel_duration_placeholder": {
        "en": "audio length in seconds, e.g. 12 (optional)",
        "zh": "音频时长（秒），例如 12（可选）",
    },
    "panel_optional": {"en": "optional", "zh": "可选"},
    "panel_use_samples": {"en": "Use samples", "zh": "使用示例素材"},
    "panel_samples_filled": {
        "en": "Sample media from the sandbox filled in.",
        "zh": "已填入沙盒的示例素材。",
    },
    "panel_submit": {"en": "Submit", "zh": "提交"},
    "panel_submitting": {"en": "Submitting…", "zh": "提交中…"},
    "panel_submitted": {"en": "Task {task_id} created.", "zh": "任务 {task_id} 已创建。"},
    "panel_no_tasks": {"en": "No tasks submitted yet.", "zh": "尚未提交任务。"},
    "panel_estimate": {
        "en": "Estimated charge: {credits} credits "
        "({model}, {seconds} s, price published by the server)",
        "zh": "预计消耗：{credits} 积分（{model}，{seconds} 秒，服务器公布的价格）",
    },
    "panel_estimate_need_duration": {
        "en": "Enter the audio duration to estimate the charge ({rate} credits per second).",
        "zh": "填写音频时长即可估算消耗（每秒 {rate} 积分）。",
    },
    "panel_estimate_unknown": {
        "en": "Price unknown: the service publishes no price list. The charge is shown on "
        "the task (credits charged) once it is created.",
        "zh": "价格未知：服务未公布价目表。任务创建后会显示实际消耗积分。",
    },
    "panel_sandbox_badge": {
        "en": "SANDBOX: free, results are not real lip sync",
        "zh": "沙盒：免费，结果不是真实的口型同步",
    },
    "panel_token_placeholder": {
        "en": "paste your API token and press Enter",
        "zh": "粘贴 API 令牌后按回车",
    },
    "panel_token_needed": {
        "en": "No API token found (KITTA_API_TOKEN). Paste it below: it is used for this "
        "session only and never saved in the notebook.",
        "zh": "未找到 API 令牌（KITTA_API_TOKEN）。请在下方粘贴："
        "仅用于本次会话，不会保存到笔记本中。",
    },
    "panel_token_set": {
        "en": "API token set for this session (not saved in the notebook).",
        "zh": "已为本次会话设置 API 令牌（不会保存到笔记本）。",
    },
    "panel_token_empty": {"en": "The API token is empty.", "zh": "API 令牌为空。"},
    # the panel served to others (widgets/_visitors.py)
    "visitor_own_token": {
        "en": "This app is shared: tasks here are paid with your own Kitta API token, never the "
        "server's. Your token stays in this session only and is sent only to the API.",
        "zh": "此应用为共享应用：此处的任务使用您自己的 Kitta API 令牌付费，绝不使用服务器的令牌。"
        "您的令牌仅在本次会话中使用，只发送给 API。",
    },
    "visitor_operator_pays": {
        "en": "The app's operator pays for the tasks created here. This session may spend "
        "{cap} credits: {left} left; at most {n} submissions per minute.",
        "zh": "此处创建的任务由应用运营者付费。本次会话最多可用 {cap} 积分，剩余 {left}；"
        "每分钟最多提交 {n} 次。",
    },
    "visitor_over_cap": {
        "en": "Not sent: this task would cost about {cost} credits, more than the {left} left "
        "for this session.",
        "zh": "未发送：此任务约需 {cost} 积分，超过本次会话剩余的 {left} 积分。",
    },
    "visitor_no_estimate": {
        "en": "Not sent: the cost cannot be estimated (the audio's length could not be measured, "
        "or the service publishes no price), so this session's credit cap cannot be kept.",
        "zh": "未发送：无法估算费用（无法测出音频长度，或服务未公布价格），"
        "因此无法遵守本次会话的积分上限。",
    },
    "visitor_rate": {
        "en": "Not sent: at most {n} submissions per minute here; try again in {s} s.",
        "zh": "未发送：此处每分钟最多提交 {n} 次；请 {s} 秒后再试。",
    },
    "visitor_token_refused": {
        "en": "The service refused this API token (401): check it and paste it again. "
        "Nothing was created.",
        "zh": "服务拒绝了此 API 令牌（401）：请检查后重新粘贴。未创建任何任务。",
    },
    "panel_fix_fields": {
        "en": "Fix the marked fields; nothing was sent.",
        "zh": "请修正标出的字段；尚未发送任何请求。",
    },
    "panel_no_loop": {
        "en": "This panel needs a running event loop (a Jupyter kernel).",
        "zh": "此面板需要运行中的事件循环（Jupyter 内核）。",
    },
    "panel_choose_file": {"en": "Choose file", "zh": "选择文件"},
    "panel_or_file": {"en": "or a local file", "zh": "或本地文件"},
    "panel_file_chosen": {"en": "Local file: {name}", "zh": "本地文件：{name}"},
    "panel_checking": {"en": "Checking…", "zh": "检查中…"},
    "panel_over_balance": {
        "en": "This estimate ({credits} credits) is more than the account's balance "
        "({balance} credits): the service will refuse the task.",
        "zh": "预计消耗（{credits} 积分）超过账户余额（{balance} 积分）：服务将拒绝该任务。",
    },
    "panel_media_problems": {
        "en": "A medium cannot be used (see the marked field); nothing was sent.",
        "zh": "有素材无法使用（见标出的字段）；尚未发送任何请求。",
    },
    # validation messages shown next to a field (Chinese; English shows the core's sentence)
    "val_required": {"en": "This is required.", "zh": "必填。"},
    "val_not_text": {"en": "This must be a URL string.", "zh": "必须是 URL 文本。"},
    "val_not_number": {
        "en": "The duration must be a number of seconds, for example 12.",
        "zh": "时长必须是秒数，例如 12。",
    },
    "val_positive": {
        "en": "The duration must be a finite number greater than 0.",
        "zh": "时长必须是大于 0 的有限数字。",
    },
    "val_not_url": {
        "en": "This is not a URL: give an absolute http(s) link.",
        "zh": "这不是 URL：请填写完整的 http(s) 链接，例如 https://example.com/speech.mp3。",
    },
    "val_file_path": {
        "en": "This is a file path, not a URL: publish the file and give its link.",
        "zh": "这是文件路径，不是 URL：服务只能通过 http(s) 链接获取素材，没有上传接口，"
        "请先发布文件再填写其链接。",
    },
    "val_no_scheme": {
        "en": "The URL has no scheme: start it with https://.",
        "zh": "URL 缺少协议：请以 https:// 开头。",
    },
    "val_scheme": {
        "en": "The URL uses {scheme}, but only http and https links can be fetched.",
        "zh": "该 URL 使用 {scheme} 协议，服务只能获取 http 和 https 链接。",
    },
    "val_whitespace": {
        "en": "The URL contains whitespace: percent-encode each space as %20.",
        "zh": "URL 中包含空白字符：空格请写成 %20。",
    },
    "val_bad_host": {
        "en": "The URL has an invalid host or port.",
        "zh": "URL 的主机名或端口无效。",
    },
    "val_no_host": {"en": "The URL has no host name.", "zh": "URL 缺少主机名。"},
    "val_not_public": {
        "en": "The service cannot reach {host}: it fetches media from the public internet.",
        "zh": "服务无法访问 {host}：它只能从公网获取素材，请把文件放到公开的 URL"
        "（对象存储或 CDN）。",
    },
    "val_model_required": {
        "en": "A model is required.",
        "zh": "必须选择模型，例如 kitta-lip-sync-v1。",
    },
    "val_audio_required": {
        "en": "An audio URL is required.",
        "zh": "必填：驱动口型的音频 URL。",
    },
    "val_video_required": {
        "en": "A video URL is required in video mode.",
        "zh": "视频模式下必须填写视频 URL（图片模式请填写图片 URL）。",
    },
    "val_image_required": {
        "en": "An image URL is required in image mode.",
        "zh": "图片模式下必须填写人物图片的 URL。",
    },
    "val_reference_video_mode": {
        "en": "A reference image is only used in image mode.",
        "zh": "参考图片只在图片模式下使用：请删除它或切换到图片模式。",
    },
    "val_input_mode": {
        "en": "The input mode must be video or image.",
        "zh": "输入模式必须是视频或图片。",
    },
    # errors from the server, in words: each one sentence
    "err_400": {
        "en": "The server refused the request: {detail}.",
        "zh": "服务器拒绝了该请求：{detail}。",
    },
    "err_400_plain": {"en": "The server refused the request.", "zh": "服务器拒绝了该请求。"},
    "err_401": {
        "en": "The API token is missing or invalid: check KITTA_API_TOKEN.",
        "zh": "API 令牌缺失或无效，请检查 KITTA_API_TOKEN。",
    },
    "err_401_argument": {
        "en": "The API token is missing or invalid: check the token passed as token=.",
        "zh": "API 令牌缺失或无效，请检查通过 token= 传入的令牌。",
    },
    "err_401_entered": {
        "en": "The API token is missing or invalid: check the token you entered.",
        "zh": "API 令牌缺失或无效，请检查您输入的令牌。",
    },
    "err_402": {
        "en": "Not enough credits for this task: top up the account or use a shorter audio.",
        "zh": "积分不足，无法创建此任务：请充值或使用更短的音频。",
    },
    "err_402_balance": {
        "en": "Not enough credits for this task (balance: {balance} credits): top up the "
        "account or use a shorter audio.",
        "zh": "积分不足，无法创建此任务（当前余额：{balance} 积分）：请充值或使用更短的音频。",
    },
    "err_403": {
        "en": "This account may not use this model or access this task.",
        "zh": "此账户无权使用该模型或访问该任务。",
    },
    "err_403_model": {
        "en": "This account may not use the model {model}: choose another model.",
        "zh": "此账户无权使用模型 {model}：请选择其他模型。",
    },
    "err_404": {
        "en": "No such task for this account.",
        "zh": "此账户下不存在该任务。",
    },
    "err_429": {
        "en": "Too many requests: wait a moment and try again.",
        "zh": "请求过于频繁，请稍后再试。",
    },
    "err_4xx": {
        "en": "The server refused the request with HTTP {status}: {detail}.",
        "zh": "服务器以 HTTP {status} 拒绝了该请求：{detail}。",
    },
    "err_500": {
        "en": "The service failed; try again later.",
        "zh": "服务出错，请稍后再试。",
    },
    "err_other_status": {
        "en": "The server answered HTTP {status}.",
        "zh": "服务器返回 HTTP {status}。",
    },
    "err_download_expired": {
        "en": "The result link has expired: call task.refresh() for a fresh one.",
        "zh": "结果链接已过期：请调用 task.refresh() 获取新链接。",
    },
    "err_download_not_media": {
        "en": "The result host sent {arrived} instead of a video.",
        "zh": "结果服务器返回的不是视频（{arrived}）。",
    },
    "err_download_too_large": {
        "en": "The video is larger than the size limit.",
        "zh": "视频超过大小上限。",
    },
    "err_download_timeout": {
        "en": "The result host was too slow: the video did not arrive in time.",
        "zh": "结果服务器响应太慢：视频未能按时下载完成。",
    },
    "err_download_failed": {
        "en": "The video could not be fetched: the connection failed.",
        "zh": "无法获取视频：连接失败。",
    },
    "err_connection": {
        "en": "Could not reach the service. Check the network and the base URL.",
        "zh": "无法连接服务，请检查网络和服务地址。",
    },
    "err_timeout": {
        "en": "The service did not answer in time.",
        "zh": "服务响应超时。",
    },
    "err_may_have_created": {
        "en": "The task may have been created anyway (credits may be spent): check the task "
        "list before submitting again.",
        "zh": "任务可能已经创建（可能已扣积分）：再次提交前请先查看任务列表。",
    },
    "err_missing_token": {
        "en": "No API token: set KITTA_API_TOKEN or paste it into the token field.",
        "zh": "缺少 API 令牌：请设置 KITTA_API_TOKEN 或在令牌输入框中粘贴。",
    },
    "err_unexpected": {
        "en": "Unexpected error ({kind}).",
        "zh": "意外错误（{kind}）。",
    },
    "err_server_said": {"en": "Server message", "zh": "服务器信息"},
    "err_request_id": {"en": "request id", "zh": "请求 ID"},
    # task card
    "card_status_pending": {"en": "Waiting in the queue", "zh": "排队等待中"},
    "card_status_processing": {"en": "Rendering the video", "zh": "正在生成视频"},
    "card_status_succeeded": {"en": "Done", "zh": "已完成"},
    "card_status_failed": {"en": "The task failed", "zh": "任务失败"},
    "card_status_unknown": {"en": "Status not recognised", "zh": "无法识别的状态"},
    "card_fetching_video": {"en": "Fetching the video…", "zh": "正在获取视频…"},
    "card_save": {"en": "Save video file", "zh": "保存视频文件"},
    "card_saved": {"en": "Saved to {path}", "zh": "已保存到 {path}"},
    "card_browser_download": {
        "en": "Click to download {name}",
        "zh": "点击下载 {name}",
    },
    "card_save_failed": {"en": "Could not save: {reason}", "zh": "保存失败：{reason}"},
    "card_check_again": {"en": "Check again", "zh": "再次查询"},
    "card_stopped": {
        "en": "Stopped following this task: {reason}",
        "zh": "已停止跟踪此任务：{reason}",
    },
    # HistoryBrowser and client.history (kitta_notebook.history)
    "history_title": {"en": "Task history", "zh": "任务历史"},
    "history_status": {"en": "Status", "zh": "状态"},
    "history_task": {"en": "Task", "zh": "任务"},
    "history_mode": {"en": "Mode", "zh": "模式"},
    "history_model": {"en": "Model", "zh": "模型"},
    "history_created": {"en": "Created", "zh": "创建时间"},
    "history_duration": {"en": "Duration", "zh": "时长"},
    "history_credits": {"en": "Credits", "zh": "积分"},
    "history_labels": {"en": "Labels", "zh": "标签"},
    "history_all_statuses": {"en": "All statuses", "zh": "全部状态"},
    "history_all_modes": {"en": "All modes", "zh": "全部模式"},
    "history_mode_video": {"en": "video", "zh": "视频"},
    "history_mode_image": {"en": "image", "zh": "图片"},
    "history_search": {"en": "Search URLs or task ids", "zh": "搜索 URL 或任务 ID"},
    "history_sort_created_desc": {"en": "Newest first", "zh": "最新优先"},
    "history_sort_created_asc": {"en": "Oldest first", "zh": "最早优先"},
    "history_sort_credits_desc": {"en": "Most credits", "zh": "积分最多"},
    "history_sort_credits_asc": {"en": "Fewest credits", "zh": "积分最少"},
    "history_prev": {"en": "‹ Previous", "zh": "‹ 上一页"},
    "history_next": {"en": "Next ›", "zh": "下一页 ›"},
    "history_page": {"en": "Page {page} of {pages}", "zh": "第 {page} / {pages} 页"},
    "history_count": {"en": "{count} tasks", "zh": "{count} 个任务"},
    "history_count_one": {"en": "{count} task", "zh": "{count} 个任务"},
    "history_credits_total": {"en": "Credits charged: {credits}", "zh": "消耗积分：{credits}"},
    "history_empty": {"en": "No tasks match these filters.", "zh": "没有符合筛选条件的任务。"},
    "history_watch": {"en": "Watch", "zh": "实时跟踪"},
    "history_refresh": {"en": "Refresh", "zh": "刷新"},
    "history_download": {"en": "Download", "zh": "下载"},
    "history_save_labels": {"en": "Save labels", "zh": "保存标签"},
    "history_labels_placeholder": {
        "en": "labels, comma separated",
        "zh": "标签，用逗号分隔",
    },
    "history_sync": {"en": "Sync with server", "zh": "与服务器同步"},
    "history_syncing": {"en": "Syncing with the server…", "zh": "正在与服务器同步…"},
    "history_synced": {
        "en": "Server list read: {new} tasks new to this journal.",
        "zh": "已读取服务器列表：新增 {new} 个任务。",
    },
    "history_reconcile": {"en": "Reconcile", "zh": "核对"},
    "history_reconciled": {
        "en": "{matched} matched to server tasks, {absent} never created, {unresolved} still "
        "unknown.",
        "zh": "{matched} 个已匹配到服务器任务，{absent} 个从未创建，{unresolved} 个仍未知。",
    },
    "history_labels_saved": {"en": "Labels saved.", "zh": "标签已保存。"},
    "history_downloaded": {"en": "Saved to {path}", "zh": "已保存到 {path}"},
    "history_working": {"en": "Working…", "zh": "处理中…"},
    "history_failed_action": {"en": "Failed: {reason}", "zh": "失败：{reason}"},
    "history_from_server": {"en": "created elsewhere", "zh": "在其他地方创建"},
    "history_sent": {"en": "What was sent", "zh": "已发送的内容"},
    "history_requested": {"en": "Sent at", "zh": "发送时间"},
    "history_outcome_error": {"en": "What happened", "zh": "发生了什么"},
    "history_downloaded_to": {"en": "Downloaded to", "zh": "已下载到"},
    "history_note_outcome_unknown": {
        "en": "The create request may have reached the server: a task may exist and credits "
        "may be spent. Reconcile to find it before creating it again.",
        "zh": "创建请求可能已到达服务器：任务可能已存在并已扣除积分。"
        "请先核对，再决定是否重新创建。",
    },
    "history_note_rejected": {
        "en": "The server refused this request (or it never left this machine): nothing was "
        "created and nothing was charged.",
        "zh": "服务器拒绝了此请求（或请求未发出）：未创建任务，也未扣除积分。",
    },
    "history_note_not_created": {
        "en": "Reconcile found no matching task on the server: it was never created.",
        "zh": "核对后在服务器上未找到对应任务：该任务从未创建。",
    },
    "history_no_journal": {
        "en": "No task journal for this client ({reason}).",
        "zh": "此客户端没有任务日志（{reason}）。",
    },
    "history_compare": {"en": "Compare with input", "zh": "与输入对比"},
    "history_comparing": {"en": "Loading the comparison…", "zh": "正在加载对比…"},
    "vscode_audio_note": {
        "en": "VS Code's notebook player plays H.264 video but not AAC audio, so this video "
        "may play silent here: download it or open it in a browser.",
        "zh": "VS Code 的笔记本播放器可播放 H.264 视频，但不支持 AAC 音频，"
        "此视频在这里可能没有声音：请下载或在浏览器中打开。",
    },
    # --- Compare (display/compare.py, widgets/compare.py) ---
    "compare_source": {"en": "Input", "zh": "输入"},
    "compare_result": {"en": "Result", "zh": "结果"},
    "compare_no_source": {
        "en": "The input of this task is not known here; pass source=URL.",
        "zh": "此处不知道该任务的输入；请传入 source=URL。",
    },
    "compare_no_result": {
        "en": "No result video yet ({status}).",
        "zh": "尚无结果视频（{status}）。",
    },
    "compare_refused": {
        "en": "Not shown: only http(s) media URLs are played.",
        "zh": "未显示：只播放 http(s) 媒体地址。",
    },
    "compare_too_large": {
        "en": "Too large to bring through the kernel ({reason}); open the link.",
        "zh": "文件过大，无法经内核传送（{reason}）；请打开链接。",
    },
    "compare_unavailable": {
        "en": "Could not load the media ({reason}).",
        "zh": "无法加载媒体（{reason}）。",
    },
    "compare_over_budget": {
        "en": "Not inlined: this view's size budget is spent; open the link.",
        "zh": "未内嵌：此视图的大小预算已用完；请打开链接。",
    },
    "compare_not_kind": {
        "en": "The file is not a playable {kind}.",
        "zh": "该文件不是可播放的{kind}。",
    },
    "compare_open": {"en": "open", "zh": "打开"},
    "compare_static_note": {
        "en": "Static view: run the cell again for one set of controls over all videos.",
        "zh": "静态视图：重新运行此单元即可用一组控件同时控制所有视频。",
    },
    "compare_play": {"en": "Play", "zh": "播放"},
    "compare_pause": {"en": "Pause", "zh": "暂停"},
    "compare_frame_back": {"en": "One frame back", "zh": "后退一帧"},
    "compare_frame_forward": {"en": "One frame forward", "zh": "前进一帧"},
    "compare_sound": {"en": "Sound", "zh": "声音"},
    "compare_mute_all": {"en": "none", "zh": "无"},
    "compare_speed": {"en": "Speed", "zh": "速度"},
}
