"""The table view of a `Preflight`: what it shows, that everything is escaped, and that a
`Preflight` renders in a notebook through the installed views (the media core never
imports the display layer)."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from kitta_notebook.display.preflight import preflight_html, preflight_mimebundle, preflight_text
from kitta_notebook.media import PRICE_UNKNOWN, Preflight, preflight, to_blob
from kitta_notebook.price import price_for
from kitta_notebook.sandbox.samples import SAMPLES_DIR, load_samples
from kitta_notebook.server_info import ServerInfo

VIDEO = SAMPLES_DIR / "video.mp4"
SPEECH = SAMPLES_DIR / "speech-en.wav"
HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>.mp4'
PAGE = b"<!doctype html><html><head><title>Share</title></head><body>clip</body></html>"


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [name for name, _ in attrs]


def tags_of(markup: str) -> _Tags:
    parser = _Tags()
    parser.feed(markup)
    return parser


def checked(fields: dict[str, object], price: float | None = 100.0) -> Preflight:
    """A real preflight of local media (probed here, no network)."""
    rates = {} if price is None else {"m": price}
    info = ServerInfo(credits_per_second=rates, minimum_billed_seconds=1.0)
    return preflight(fields, is_official=False, price=price_for(info, "m"))


def test_each_input_is_a_row_with_format_duration_size_and_the_estimate() -> None:
    report = checked({"video_url": to_blob(VIDEO), "audio_url": to_blob(SPEECH)})
    assert report.ok
    markup = preflight_html(report)
    assert 'data-ok="true"' in markup
    assert markup.count('class="kitta-preflight-row"') == 2
    assert 'data-field="video_url" data-verdict="ok"' in markup
    assert "MP4 video" in markup and "WAV audio" in markup
    seconds = load_samples().durations["audio"]
    assert f"{seconds:.2f} s" in markup  # the audio's duration, to 0.01 s
    assert "32.1 kB" in markup and "137.4 kB" in markup  # the two files' sizes
    assert f"Estimated charge: {report.estimated_credits:,} credits" in markup
    assert "duration read from the audio" in markup
    assert "Ready: no problem found" in markup
    text = preflight_text(report)
    assert text.startswith("Preflight: Ready")
    assert "video_url: video.mp4 | MP4 video" in text


def test_a_web_page_as_the_video_is_a_problem_and_the_price_may_be_unknown() -> None:
    report = checked(
        {"video_url": to_blob(PAGE, name="share.html"), "audio_url": to_blob(SPEECH)}, price=None
    )
    assert not report.ok
    markup = preflight_html(report)
    assert 'data-ok="false"' in markup
    assert 'data-field="video_url" data-verdict="problem"' in markup
    assert "It is an HTML page, not a video." in markup
    assert "Refused: 1 problem(s)" in markup
    assert f"No estimate: {PRICE_UNKNOWN}" in markup
    text = preflight_text(report)
    assert "problem: It is an HTML page, not a video." in text
    assert "price unknown" in text


def test_every_value_is_escaped() -> None:
    report = checked({"video_url": to_blob(PAGE, name=HOSTILE), "audio_url": to_blob(SPEECH)})
    bundle = preflight_mimebundle(report)
    assert set(bundle) == {"text/plain", "text/html"}
    found = tags_of(bundle["text/html"])
    assert "script" not in found.tags and "img" not in found.tags
    assert "onerror" not in found.attrs
    assert "&lt;script&gt;" in bundle["text/html"]


def test_a_preflight_renders_in_a_notebook_through_the_installed_views() -> None:
    pytest.importorskip("IPython")
    from IPython.core.formatters import DisplayFormatter

    report = checked({"video_url": to_blob(VIDEO), "audio_url": to_blob(SPEECH)})
    assert report._repr_mimebundle_() == preflight_mimebundle(report)
    data, _ = DisplayFormatter().format(report)
    assert data["text/html"] == preflight_html(report)
    assert data["text/plain"].startswith("Preflight: Ready")


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (the connection is refused)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/speech.wav"


def visible_text(markup: str) -> str:
    """The words a reader sees: tags dropped, and names that are not sentences (file
    names, URLs, field names, environment variables, commands) removed."""
    import re

    words = re.sub(r"<[^>]+>", " ", markup)
    words = re.sub(r"&\w+;", " ", words)
    words = re.sub(r"\S*(?:://|\.(?:wav|mp4|html|png)|_url|KITTA_|AWS_|pip )\S*", " ", words)
    return words


ENGLISH_SENTENCE = r"[A-Za-z]{2,}[ ,:;]+[A-Za-z]{2,}[ ,:;]+[A-Za-z]{2,}"


def test_in_chinese_no_english_sentence_is_left_in_the_check() -> None:
    """Format names, problems, warnings, the verdict and the estimate: all in Chinese."""
    import re

    cases = [
        checked({"video_url": to_blob(VIDEO), "audio_url": to_blob(SAMPLES_DIR / "not-media.mp4")}),
        checked({"video_url": to_blob(PAGE, name="share.html"), "audio_url": to_blob(SPEECH)}),
        checked({"video_url": to_blob(VIDEO), "audio_url": closed_port_url()}, price=None),
        checked({"video_url": to_blob(SPEECH), "audio_url": to_blob(VIDEO)}),
        checked({"video_url": to_blob(VIDEO), "audio_url": to_blob(SPEECH)}),
    ]
    english = preflight_html(cases[0])
    assert "It is a text file, not audio." in english and "MP4 video" in english
    for report in cases:
        markup = preflight_html(report, lang="zh")
        left = re.findall(ENGLISH_SENTENCE, visible_text(markup))
        assert left == [], (left, markup)
    zh = preflight_html(cases[0], lang="zh")
    assert "MP4 视频" in zh and "这是文本文件，不是音频。" in zh


def test_a_warning_says_what_it_means_for_the_create() -> None:
    """Ready in green only when nothing is in doubt; a warning is said to matter."""
    report = checked({"video_url": to_blob(VIDEO), "audio_url": closed_port_url()})
    assert report.ok and report.warnings
    markup = preflight_html(report)
    assert "Ready: no problem found" not in markup
    assert "Sendable with 1 warning(s)" in markup and "#17622d" not in markup
    assert "connection refused" in markup
    assert str(report).startswith("Preflight: Sendable with 1 warning(s)")


def test_print_shows_the_readable_text_and_sizes_never_break_inside_a_value() -> None:
    report = checked({"video_url": to_blob(VIDEO), "audio_url": to_blob(SPEECH)})
    printed = str(report)
    assert printed == preflight_text(report)
    assert "ProbeResult(" not in printed and "MediaFacts(" not in printed
    assert len(printed.splitlines()) <= 5 and max(map(len, printed.splitlines())) < 120
    assert len(repr(report)) < 200 and repr(report).startswith("Preflight(ok=True")
    markup = preflight_html(report)
    assert "break-all" not in markup and "anywhere" not in markup  # "speech.wa v"
    remote = preflight_html(checked({"video_url": to_blob(VIDEO), "audio_url": closed_port_url()}))
    # A URL wraps after a slash, never inside a name ("speech-" / "en.wav").
    assert '/<wbr><span style="white-space:nowrap">speech.wav</span>' in remote
    assert markup.count("white-space:nowrap") >= 3 * len(report.inputs)  # "169.5 / kB"


def test_every_finding_is_said_in_chinese_from_its_code_not_its_english() -> None:
    """Findings whose English no view knew how to parse (a header that claims more than
    the file holds, a duration_seconds below the audio, a private redirect, where the
    check ran) are said in Chinese too, from the finding's key and facts."""
    import copy
    import pickle
    import re

    from kitta_notebook.media import ProbeResult, build_preflight

    speech = SPEECH.read_bytes()
    cut = to_blob(speech[: len(speech) // 2], name="cut.wav")
    info = ServerInfo(credits_per_second={"m": 100.0}, minimum_billed_seconds=1.0)
    report = preflight(
        {"video_url": to_blob(VIDEO), "audio_url": cut, "duration_seconds": 0.5},
        is_official=True,
        price=price_for(info, "m"),
    )
    assert [name for name, _ in report.warnings] == ["audio_url", "preflight", "duration_seconds"]
    assert report.warnings[0][1].startswith("Its header does not match the file: the header")
    redirect = ProbeResult(
        source="https://example.com/v.mp4", reachable=False, refused_redirect="10.0.0.1"
    )
    refused = build_preflight({"video_url": redirect}, is_official=False)
    assert refused.problems[0][1].startswith("It redirects to 10.0.0.1, a private address")
    for checked_report in (report, refused):
        markup = preflight_html(checked_report, lang="zh")
        left = re.findall(ENGLISH_SENTENCE, visible_text(markup))
        assert left == [], (left, markup)
    zh = preflight_html(report, lang="zh")
    assert "文件头声称 4.3 秒，但文件实际只有 2.1 秒" in zh and "小于测得的音频时长 2.15 秒" in zh
    assert "它重定向到 10.0.0.1" in preflight_html(refused, lang="zh")
    # A finding is its English text, and stays a finding when copied or pickled.
    for copied in (
        copy.deepcopy(report.warnings[0][1]),
        pickle.loads(pickle.dumps(report.warnings[0][1])),
    ):
        assert copied == report.warnings[0][1] and copied.say("zh").startswith("其文件头与文件不符")


def test_a_chinese_text_needs_no_fact_its_english_lacks() -> None:
    """A `Finding` carries the facts its English names; its Chinese must manage with them."""
    from string import Formatter

    from kitta_notebook.i18n import TEXTS

    def names(template: str) -> set[str]:
        return {name for _, name, _, _ in Formatter().parse(template) if name}

    extra = {key: names(zh) - names(en) for key, (en, zh) in TEXTS.items() if names(zh) - names(en)}
    assert extra == {}
