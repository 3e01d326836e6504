"""The media check's texts (preflight table, prices, findings) as (English, Chinese).

Data only; `i18n.TEXTS` includes them, read via `i18n.text`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

Lang = Literal["en", "zh"]

CHECK_TEXTS: Mapping[str, tuple[str, str]] = {
    # Preflight table (kitta_notebook.display.preflight)
    "preflight_title": ("Media check", "素材检查"),
    "preflight_field": ("Input", "输入"),
    "preflight_source": ("Source", "来源"),
    "preflight_format": ("Format", "格式"),
    "preflight_duration": ("Duration", "时长"),
    "preflight_size": ("Size", "大小"),
    "preflight_notes": ("Problems and warnings", "问题与提醒"),
    "preflight_ok": (
        "Ready: no problem found, a create would be sent.",
        "可以提交：未发现问题，创建时会发送请求。",
    ),
    "preflight_ok_warnings": (
        "Sendable with {count} warning(s): nothing blocks a create, but the service may "
        "still fail to use an input marked ⚠ (a failed task is not charged); fix it first "
        "if you can.",
        "可以提交，但有 {count} 个提醒：创建不会被拦截，但服务仍可能无法使用标 ⚠ 的素材"
        "（失败的任务不扣积分）；能修正的话请先修正。",
    ),
    "preflight_refused": (
        "Refused: {count} problem(s); a create would send nothing and spend no credits.",
        "已拒绝：{count} 个问题；创建任务时不会发送请求，也不会扣积分。",
    ),
    "preflight_estimate": (
        "Estimated charge: {credits} credits for {seconds}",
        "预计消耗：{credits} 积分（{seconds}）",
    ),
    "preflight_from_probe": ("duration read from the audio", "时长取自音频"),
    "preflight_no_estimate": ("No estimate: {reason}", "无法估算：{reason}"),
    "preflight_price_source": ("price {source}", "价格{source}"),
    # where a price came from (`Price.describe`)
    "price_published": ("published by the server", "由服务器公布"),
    "price_learned": ("learned from {tasks} tasks", "从 {tasks} 个已完成任务学得"),
    "price_learned_one": ("learned from 1 task", "从 1 个已完成任务学得"),
    "price_learned_batch": (
        "learned from this batch's creates ({batch})",
        "从本批次已创建的任务学得（{batch} 个）",
    ),
    "price_and_batch": (" and {batch} of this batch", "及本批次 {batch} 个任务"),
    "price_unknown": ("unknown", "未知"),
    # The media check's findings (kitta_notebook.display.preflight)
    "media_not_checked": ("not checked: {reason}", "未检查：{reason}"),
    "media_uncertain": (
        "It could not be checked from this machine ({reason}).",
        "无法从本机检查（{reason}）。",
    ),
    "media_empty": ("It is an empty file.", "这是一个空文件。"),
    "media_http_5xx": (
        "The media host answered HTTP {status}; it may be a passing failure.",
        "素材服务器返回 HTTP {status}；可能是暂时性故障。",
    ),
    "media_http_4xx": (
        "The media host answered HTTP {status}, so the service cannot fetch it.",
        "素材服务器返回 HTTP {status}，服务无法获取该素材。",
    ),
    "media_stopped": (
        "It could not be checked: reading stopped ({reason}).",
        "无法检查：读取已停止（{reason}）。",
    ),
    "media_partial": (
        "It could not be fully checked: reading stopped ({reason}).",
        "未能完整检查：读取已停止（{reason}）。",
    ),
    "media_unknown_format": (
        "It is in a format no decoder knows, not {want}.",
        "这是无法识别的格式，不是{want}。",
    ),
    "media_undecodable": (
        "It looks like {ext} but cannot be read as one.",
        "看起来是 {ext}，但无法按该格式读取。",
    ),
    "media_image_not_video": (
        "It is an image ({label}), not a video: pass it as image_url.",
        "这是图片（{label}），不是视频：请作为 image_url 传入。",
    ),
    "media_audio_not_video": (
        "It is audio only ({label}), not a video.",
        "这只有音频（{label}），不是视频。",
    ),
    "media_image_not_audio": (
        "It is an image ({label}), not audio.",
        "这是图片（{label}），不是音频。",
    ),
    "media_no_audio": ("It has no audio stream ({label}).", "其中没有音频流（{label}）。"),
    "media_no_duration": ("Its duration was not measured ({label}).", "未能测出时长（{label}）。"),
    "media_zero_duration": ("It has zero duration.", "时长为零。"),
    "media_wrong_kind": ("It is {label}, not {want}.", "这是{label}，不是{want}。"),
    "media_audio_longer": (
        "The audio ({audio} s) is much longer than the video ({video} s).",
        "音频（{audio} 秒）比视频（{video} 秒）长很多：沙盒会循环视频以匹配音频长度；"
        "真实服务的行为未见文档说明。",
    ),
    "media_audio_shorter": (
        "The audio ({audio} s) is much shorter than the video ({video} s).",
        "音频（{audio} 秒）比视频（{video} 秒）短很多：沙盒会在音频结束处截断视频；"
        "真实服务的行为未见文档说明。",
    ),
    "media_from_here": (
        "Checked from this machine: the service fetches inputs from its own network.",
        "以上在本机检查：服务从它自己的网络获取素材，可能访问到本机无法访问的地址（反之亦然）。",
    ),
    "media_price_unknown": (
        "price unknown: the server publishes no price per second, and this account has "
        "no finished task on this model to learn it from",
        "价格未知：服务器未公布每秒价格，且本账号在该模型上没有可用于推算价格的已完成任务",
    ),
    "media_duration_unknown": (
        "duration unknown: give duration_seconds or a probeable audio_url",
        "时长未知：请提供 duration_seconds 或可检测的 audio_url",
    ),
    "media_no_store": (
        "This is a local file, and no media store is set up.",
        "这是本地文件，但未配置素材存储。Kitta 服务只通过 URL 获取素材，本地文件需先发布到"
        "你自己的存储：配置兼容 S3 的存储桶（pip install 'kitta-notebook[s3]'，凭证取自 "
        "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY），再设置 "
        "KITTA_MEDIA_STORE=s3://<bucket>/<prefix>，在 AWS 之外还需设置 "
        "KITTA_MEDIA_ENDPOINT_URL 和 KITTA_MEDIA_REGION。也可在代码中传入 "
        "store=S3Store(...)，或改用公开的 http(s) URL。",
    ),
}
