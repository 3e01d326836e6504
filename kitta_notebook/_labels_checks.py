"""The checks' texts (preflight table, prices, media and create-validation findings)
as (English, Chinese).

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
    # The media check's findings (`i18n.Finding`s made by `media.prober.judge` and the
    # probe), said by every view from here.
    "media_not_checked": ("not checked: {reason}", "未检查：{reason}"),
    "media_redirect_private": (
        "It redirects to {host}, a private address the service cannot fetch from (this "
        "machine did not follow it).",
        "它重定向到 {host}，这是服务无法访问的私有地址（本机未跟随该重定向）。",
    ),
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
    "media_wrong_kind": ("It is {a}{label}, not {want}.", "这是{label}，不是{want}。"),
    "media_doubt_unused": (
        "Its audio length is not trusted: {doubt}. It sets neither the estimate nor "
        "durationSeconds.",
        "其音频时长不可信：{doubt}。它既不用于估算，也不作为 durationSeconds 发送。",
    ),
    "media_doubt_held": (
        "Its header does not match the file: {doubt}. The {held:.2f} s it holds are used.",
        "其文件头与文件不符：{doubt}。使用文件实际包含的 {held:.2f} 秒。",
    ),
    "media_audio_longer": (
        "The audio ({audio:.1f} s) is much longer than the video ({video:.1f} s): the "
        "sandbox loops the video to the audio's length; the real service's behaviour is "
        "undocumented.",
        "音频（{audio:.1f} 秒）比视频（{video:.1f} 秒）长很多：沙盒会循环视频以匹配音频长度；"
        "真实服务的行为未见文档说明。",
    ),
    "media_audio_shorter": (
        "The audio ({audio:.1f} s) is much shorter than the video ({video:.1f} s): the "
        "sandbox cuts the video at the audio's end; the real service's behaviour is "
        "undocumented.",
        "音频（{audio:.1f} 秒）比视频（{video:.1f} 秒）短很多：沙盒会在音频结束处截断视频；"
        "真实服务的行为未见文档说明。",
    ),
    "media_understated": (
        "duration_seconds={given:g} is below the audio's measured {probed:.2f} s: "
        "{probed:.2f} s is sent and priced instead (the charge follows the audio; pass "
        "preflight=False to send your value unchecked).",
        "duration_seconds={given:g} 小于测得的音频时长 {probed:.2f} 秒：改为发送并按 "
        "{probed:.2f} 秒计价（费用按音频计算；传入 preflight=False 可不经检查发送你的值）。",
    ),
    "media_from_here": (
        "checked from this machine: the service fetches inputs from its own network, "
        "which may reach hosts this machine cannot (and the other way round)",
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
        "This is a local file, and no media store is set up. {how}",
        "这是本地文件，但未配置素材存储。{how}",
    ),
    "media_store_how": (
        "The Kitta service fetches media only by URL, so a local file must be published to "
        "storage you own first. Configure an S3-compatible bucket (pip install "
        "'kitta-notebook[s3]'; credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), "
        "then set KITTA_MEDIA_STORE=s3://<bucket>/<prefix> and, outside AWS, "
        "KITTA_MEDIA_ENDPOINT_URL and KITTA_MEDIA_REGION. Examples: "
        "Aliyun OSS: KITTA_MEDIA_STORE=s3://my-bucket/kitta "
        "KITTA_MEDIA_ENDPOINT_URL=https://s3.oss-cn-hangzhou.aliyuncs.com "
        "KITTA_MEDIA_REGION=cn-hangzhou; "
        "Tencent COS: KITTA_MEDIA_STORE=s3://my-bucket-1250000000/kitta "
        "KITTA_MEDIA_ENDPOINT_URL=https://cos.ap-guangzhou.myqcloud.com "
        "KITTA_MEDIA_REGION=ap-guangzhou; "
        "Cloudflare R2: KITTA_MEDIA_STORE=s3://my-bucket/kitta "
        "KITTA_MEDIA_ENDPOINT_URL=https://<account-id>.r2.cloudflarestorage.com "
        "KITTA_MEDIA_REGION=auto. "
        "Or pass store=S3Store(...) in code, or give a public http(s) URL instead.",
        "Kitta 服务只通过 URL 获取素材，本地文件需先发布到"
        "你自己的存储：配置兼容 S3 的存储桶（pip install 'kitta-notebook[s3]'，凭证取自 "
        "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY），再设置 "
        "KITTA_MEDIA_STORE=s3://<bucket>/<prefix>，在 AWS 之外还需设置 "
        "KITTA_MEDIA_ENDPOINT_URL 和 KITTA_MEDIA_REGION。也可在代码中传入 "
        "store=S3Store(...)，或改用公开的 http(s) URL。",
    ),
    # facts said inside a finding: a format's name, the kind a field wants, a reason
    "format_video": ("{ext} video", "{ext} 视频"),
    "format_audio": ("{ext} audio", "{ext} 音频"),
    "format_image": ("{ext} image", "{ext} 图片"),
    "format_html": ("HTML page", "HTML 网页"),
    "format_xml": ("XML document", "XML 文档"),
    "format_json": ("JSON document", "JSON 文档"),
    "format_text": ("text file", "文本文件"),
    "format_unknown": ("file of unknown format", "未知格式的文件"),
    "format_file": ("file", "文件"),
    "want_video": ("a video", "视频"),
    "want_audio": ("audio", "音频"),
    "want_image": ("an image", "图片"),
    "reason_timed_out": ("timed out", "超时"),
    "reason_dns": ("DNS lookup failed", "域名解析失败"),
    "reason_refused": ("connection refused", "连接被拒绝"),
    "reason_network": ("network error ({error})", "网络错误（{error}）"),
    "reason_byte_budget": ("byte budget", "已达读取字节上限"),
    "reason_deadline": ("deadline", "已达时间上限"),
    "doubt_size_unknown": (
        "the header claims {claimed:,.1f} s, but the file's size is unknown (or its last "
        "byte could not be read), so the claim cannot be checked",
        "文件头声称 {claimed:,.1f} 秒，但文件大小未知（或无法读取最后一个字节），无法核实",
    ),
    "doubt_too_long": (
        "the header claims {claimed:,.1f} s, more than a file of {size:,} bytes can hold",
        "文件头声称 {claimed:,.1f} 秒，超出 {size:,} 字节的文件所能容纳的时长",
    ),
    "doubt_holds_less": (
        "the header claims {claimed:,.1f} s, but the file holds {held:,.1f} s",
        "文件头声称 {claimed:,.1f} 秒，但文件实际只有 {held:,.1f} 秒",
    ),
    # validation problems (`i18n.Finding`s made by `validation.validate_create`)
    "val_required": ("This is empty: give the URL of the file.", "必填。"),
    "val_not_text": ("This must be a URL string, not {type}.", "必须是 URL 文本。"),
    "val_not_number": (
        "The duration must be a number of seconds, for example 12.",
        "时长必须是秒数，例如 12。",
    ),
    "val_positive": (
        "The duration must be a finite number greater than 0.",
        "时长必须是大于 0 的有限数字。",
    ),
    "val_not_url": (
        "This is not a URL: give an absolute http(s) link such as {example}.",
        "这不是 URL：请填写完整的 http(s) 链接，例如 {example}。",
    ),
    "val_file_path": (
        "This is a file path, not a URL: the service fetches media by http(s) URL and has "
        "no upload endpoint, so publish the file and give its link.",
        "这是文件路径，不是 URL：服务只能通过 http(s) 链接获取素材，没有上传接口，"
        "请先发布文件再填写其链接。",
    ),
    "val_no_scheme": (
        "The URL has no scheme: write it as https://{url}.",
        "URL 缺少协议：请以 https:// 开头。",
    ),
    "val_scheme": (
        "The URL uses {scheme}, but only http and https links can be fetched by the service.",
        "该 URL 使用 {scheme} 协议，服务只能获取 http 和 https 链接。",
    ),
    "val_whitespace": (
        "The URL contains whitespace: percent-encode each space as %20.",
        "URL 中包含空白字符：空格请写成 %20。",
    ),
    "val_bad_host": ("The URL has an invalid host or port.", "URL 的主机名或端口无效。"),
    "val_no_host": ("The URL has no host name.", "URL 缺少主机名。"),
    "val_not_public": (
        "The service cannot reach {host}: it fetches media from the public internet, so "
        "host the file at a public URL (object storage or a CDN).",
        "服务无法访问 {host}：它只能从公网获取素材，请把文件放到公开的 URL（对象存储或 CDN）。",
    ),
    "val_model_required": (
        "A model is required, for example '{model}'.",
        "必须选择模型，例如 {model}。",
    ),
    "val_audio_required": (
        "An audio URL is required: the audio drives the mouth.",
        "必填：驱动口型的音频 URL。",
    ),
    "val_video_required": (
        "A video URL is required in video mode (or give image_url for image mode).",
        "视频模式下必须填写视频 URL（图片模式请填写图片 URL）。",
    ),
    "val_image_required": (
        "An image URL is required in image mode: the person's picture.",
        "图片模式下必须填写人物图片的 URL。",
    ),
    "val_reference_video_mode": (
        "A reference image is only used in image mode: drop it or set input_mode='image'.",
        "参考图片只在图片模式下使用：请删除它或切换到图片模式。",
    ),
    "val_input_mode": (
        "The input mode must be 'video' or 'image', not {mode!r}.",
        "输入模式必须是视频或图片。",
    ),
}
