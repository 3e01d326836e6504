"""`S3Store`: any S3-compatible storage (AWS S3, Aliyun OSS, Tencent COS, Cloudflare R2,
MinIO) through boto3, handing out presigned GET URLs; `s3_store_at` builds one from
``s3://bucket/prefix`` and the ``KITTA_MEDIA_*`` settings. Imported only when an S3
store is in use (which store a client uses is `stores.resolve_store`).

boto3 signs (never hand-written signing) and is an optional extra: ``pip install
'kitta-notebook[s3]'``. Credentials come from boto3's standard chain (env vars, shared
config, instance roles) and are never stored on this object, shown or logged: while
a store is in use, botocore's own DEBUG log lines are redacted too (`_BotocoreLogRedactor`).

Every operation (a HEAD, a PUT, a whole multipart upload, a presign) has a total
deadline, retries included (`_bounded`): botocore's timeouts are per socket read,
so a store that trickles bytes would otherwise hold a create for ever.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from .._fetch import DeadlineExceeded, within
from .._redact import redact_text, redact_url
from ..errors import PublishError, ValidationError
from .local import (
    LocalBlob,
    MediaStore,
    Progress,
    cumulative_progress,
    upload_deadline,
    verified_chunks,
)

__all__ = ["MAX_EXPIRES", "MIN_EXPIRES", "S3Store", "s3_store_at"]

MIN_EXPIRES = timedelta(hours=1)
"""A task may wait in a queue before the service fetches its inputs; a short URL could die first."""
MAX_EXPIRES = timedelta(days=7)
"""The longest a SigV4 presigned URL is valid on S3 and R2; longer ones fail when used."""
MULTIPART_THRESHOLD = 16 * 1024 * 1024
MULTIPART_CHUNK = 16 * 1024 * 1024
REQUEST_TIMEOUT = 60.0
"""Seconds one storage operation may take in all, retries included; an upload gets this
much per 16 MiB started."""

T = TypeVar("T")

AddressingStyle = Literal["auto", "path", "virtual"]
# Hosts whose S3 endpoints refuse path-style requests (OSS: SecondLevelDomainForbidden).
_VIRTUAL_HOSTS = ("aliyuncs.com", "myqcloud.com")


def default_addressing(endpoint_url: str | None) -> AddressingStyle:
    """Virtual hosts for AWS itself (path style signs the global host and fails for other
    regions) and for OSS/COS; path style for a custom endpoint (MinIO, R2, test servers)."""
    if endpoint_url is None:
        return "virtual"
    host = (urlsplit(endpoint_url).hostname or "").lower()
    return "virtual" if host.endswith(_VIRTUAL_HOSTS) else "path"


def check_expires(expires: object) -> timedelta:
    """The URL lifetime as a timedelta: seconds (int or float) or a timedelta are accepted."""

    def refuse(problem: str) -> ValidationError:
        return ValidationError([("expires", problem)])

    if isinstance(expires, (int, float)) and not isinstance(expires, bool):
        try:
            expires = timedelta(seconds=expires)
        except (OverflowError, ValueError):  # inf, nan, or beyond any date
            raise refuse(f"The expiry {expires!r} is out of range.") from None
    if not isinstance(expires, timedelta):
        raise refuse(
            "The expiry must be a number of seconds or a datetime.timedelta "
            f"(1 hour to 7 days), not {type(expires).__name__}."
        )
    if expires < MIN_EXPIRES:
        raise refuse(
            f"The expiry is {expires}; presigned URLs must live at least 1 hour so "
            "that they outlive the task (the default is 24 hours)."
        )
    if expires > MAX_EXPIRES:
        raise refuse(f"The expiry is {expires}; stores sign URLs for at most 7 days.")
    return expires


def _md5(data: bytes) -> str:
    """Content-MD5: the server refuses a body that arrived different from what was read."""
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


def _wrap(error: Exception, doing: str, secrets: tuple[str, ...] = ()) -> PublishError:
    """A botocore error as a PublishError: its code and message only, no request data,
    and none of `secrets` (the signing credentials) even when the server echoes them."""
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        details = response.get("Error", {})
        code = redact_text(str(details.get("Code") or "error"), secrets)[:80]
        message = redact_text(str(details.get("Message") or ""), secrets).strip()[:200]
        if code == "403" and message in ("", "Forbidden"):  # a HEAD answer has no body
            message = "access denied: check the storage credentials and the bucket's policy"
        text = f"{doing} failed: {code}" + (f" ({message})" if message else "")
        return PublishError(text, code=code)
    name = type(error).__name__
    if name in ("NoCredentialsError", "PartialCredentialsError"):
        return PublishError(
            f"{doing} failed: no storage credentials found. Set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) for the storage account.",
            code=name,
        )
    return PublishError(f"{doing} failed: {name}", code=name)


_calls = threading.local()
"""`_calls.over()`: whether the storage operation running on this thread was given up
(its deadline passed, or its caller stopped waiting)."""


def _refuse_late_attempts(request: Any, **_: Any) -> None:
    """botocore's ``before-send`` hook: no attempt (a retry included) starts after its
    operation's deadline, so an operation given up stops at once. Aborting a multipart
    upload (the only DELETE) always may: it leaves no parts behind."""
    over = getattr(_calls, "over", None)
    if over is not None and over() and request.method != "DELETE":
        raise DeadlineExceeded("the operation was given up")


# botocore's loggers that write requests, signatures and response bodies at DEBUG.
_BOTOCORE_LOGGERS = (
    "botocore.auth",
    "botocore.endpoint",
    "botocore.parsers",
    "botocore.hooks",
    "botocore.httpsession",
    "botocore.retryhandler",
    "botocore.retries.standard",
    "urllib3.connectionpool",
)
_LOG_SECRETS: list[str] = []
"""The secret keys and session tokens of the stores made in this process (a list: safe to
copy while another thread adds to it)."""


class _BotocoreLogRedactor(logging.Filter):
    """At DEBUG botocore logs each request's Authorization header, the canonical request
    with its session token, every signature (a presigned URL's too) and response bodies
    (which may echo a secret): a user who turns logging on must find none of them.
    Runs only for records that are emitted (after the level check)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a malformed record: logging reports it when it formats
            return True
        record.msg, record.args = redact_text(text, tuple(_LOG_SECRETS)), ()
        return True


def _redact_botocore_logs(secrets: tuple[str, ...]) -> None:
    _LOG_SECRETS.extend(secret for secret in secrets if secret not in _LOG_SECRETS)
    for name in _BOTOCORE_LOGGERS:
        log = logging.getLogger(name)
        if not any(isinstance(f, _BotocoreLogRedactor) for f in log.filters):
            log.addFilter(_BotocoreLogRedactor())


class S3Store(MediaStore):
    """Objects under ``{prefix}{sha256}.{ext}`` in `bucket`, shared by presigned GET URLs.

    `session` is an optional ``boto3.Session`` (for explicit credentials or a profile);
    without it boto3's default chain is used. `expires` (a timedelta, or seconds) must
    be 1 hour to 7 days. `timeout`: the seconds each operation may take in all (an
    upload: per 16 MiB started), retries included.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        expires: timedelta | float = timedelta(hours=24),
        addressing_style: AddressingStyle | None = None,
        session: Any = None,
        multipart_threshold: int = MULTIPART_THRESHOLD,
        max_concurrency: int = 8,
        timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        if not bucket or "/" in bucket:
            raise ValidationError([("bucket", f"{bucket!r} is not a bucket name")])
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        # Without user:password@ (S3 signs requests; userinfo is never used): no attribute
        # holds it, and repr and describe() may show the endpoint as it is.
        self.endpoint_url = None if endpoint_url is None else redact_url(endpoint_url)
        self.region = region
        self.expires = check_expires(expires)
        self.addressing_style = addressing_style or default_addressing(endpoint_url)
        self._session = session
        self._multipart_threshold = multipart_threshold
        self._max_concurrency = max_concurrency
        if not (isinstance(timeout, (int, float)) and 0 < timeout < math.inf):
            raise ValidationError([("timeout", "must be a positive number of seconds")])
        self._timeout = float(timeout)
        self._client: Any = None
        self._client_lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"S3Store(bucket={self.bucket!r}, prefix={self.prefix!r}, "
            f"endpoint_url={self.endpoint_url!r}, region={self.region!r}, "
            f"expires={self.expires!r})"
        )

    def describe(self) -> str:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"s3://{self.bucket}/{self.prefix}{where}"

    def _s3(self) -> Any:
        with self._client_lock:  # uploads of several inputs may start together
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def _make_client(self) -> Any:
        try:
            import boto3  # type: ignore[import-untyped]
            from botocore.config import Config  # type: ignore[import-untyped]
        except ImportError:
            raise PublishError("S3Store needs boto3: pip install 'kitta-notebook[s3]'") from None
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": self.addressing_style},
            # A plain body, not aws-chunked with a trailer: many S3-compatible
            # services refuse the latter (R2 answers 501).
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            connect_timeout=min(10.0, self._timeout),
            read_timeout=min(60.0, self._timeout),
            retries={"max_attempts": 5, "mode": "standard"},
        )
        session = self._session or boto3.session.Session()
        client = session.client(
            "s3", endpoint_url=self.endpoint_url, region_name=self.region, config=config
        )
        client.meta.events.register("before-send.s3", _refuse_late_attempts)
        _redact_botocore_logs(self._secrets())
        return client

    def object_key(self, key: str) -> str:
        return self.prefix + key

    def _secrets(self) -> tuple[str, ...]:
        """The signing credentials, looked up only to keep them out of an error's text."""
        try:
            import boto3  # type: ignore[import-untyped]

            credentials = (self._session or boto3.session.Session()).get_credentials()
            frozen = credentials.get_frozen_credentials()
        except Exception:  # none found, or no boto3: nothing to redact
            return ()
        return tuple(x for x in (frozen.secret_key, frozen.token) if x)

    def exists(self, key: str) -> bool:
        return self.head(key) is not None

    def head(self, key: str) -> tuple[int, dict[str, str]] | None:
        """(size, user metadata) of the object under `key`, or None when there is none."""

        def ask() -> tuple[int, dict[str, str]] | None:
            try:
                answer = self._s3().head_object(Bucket=self.bucket, Key=self.object_key(key))
            except Exception as error:
                response = getattr(error, "response", {})
                if response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                    return None
                raise
            return int(answer.get("ContentLength", 0)), dict(answer.get("Metadata") or {})

        return self._bounded(f"checking {key} in {self.describe()}", self._timeout, ask)

    def _bounded(
        self,
        doing: str,
        seconds: float,
        work: Callable[[], T],
        give_up: Callable[[], None] = lambda: None,
    ) -> T:
        """`work` (storage calls) within `seconds` in all, retries included: a store that
        trickles bytes or answers each attempt slowly is given up with a `PublishError`
        naming `doing` and the time. botocore's errors become ours, without secrets."""
        ends = time.monotonic() + seconds
        stopped = threading.Event()

        def run() -> T:
            _calls.over = lambda: stopped.is_set() or time.monotonic() >= ends
            return work()

        def stop() -> None:
            stopped.set()
            give_up()

        try:
            return within(seconds, run, stop)
        except DeadlineExceeded:
            raise PublishError(
                f"{doing} did not finish within {seconds:.3g} s (retries included): the "
                "storage answered too slowly, so it was given up.",
                code="timeout",
            ) from None
        except PublishError:
            raise
        except Exception as error:
            raise _wrap(error, doing, self._secrets()) from None

    def upload(
        self,
        blob: LocalBlob,
        key: str,
        progress: Progress | None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Send exactly the bytes that were hashed: each chunk is read once, hashed again
        and sent with its Content-MD5; a file that changed since it was hashed is refused
        before anything is stored under its key (a multipart upload is aborted).
        `metadata` is stored with the object (S3 user metadata)."""
        advance = cumulative_progress(progress, blob.size)
        extra = {"ContentType": blob.content_type, "Metadata": dict(metadata or {})}
        doing = f"uploading {blob.name} to {self.describe()}"
        seconds = upload_deadline(self._timeout, blob.size)
        if blob.size <= self._multipart_threshold:
            self._bounded(doing, seconds, lambda: self._put_whole(blob, key, advance, extra))
            return
        started: list[str] = []  # the multipart upload's id, once the store gave one

        def abort() -> None:
            target = {"Bucket": self.bucket, "Key": self.object_key(key)}
            for upload_id in started:
                self._s3().abort_multipart_upload(**target, UploadId=upload_id)

        def give_up() -> None:
            with contextlib.suppress(Exception):  # at worst its parts wait for a lifecycle rule
                within(self._timeout, abort, lambda: None)

        def put_parts() -> None:
            self._put_parts(blob, key, advance, extra, started)

        self._bounded(doing, seconds, put_parts, give_up)

    def _put_whole(
        self, blob: LocalBlob, key: str, advance: Callable[[int], None], extra: dict[str, Any]
    ) -> None:
        data = b"".join(verified_chunks(blob, MULTIPART_CHUNK))
        self._s3().put_object(
            Bucket=self.bucket, Key=self.object_key(key), Body=data, ContentMD5=_md5(data), **extra
        )
        advance(len(data))

    def _put_parts(
        self,
        blob: LocalBlob,
        key: str,
        advance: Callable[[int], None],
        extra: dict[str, Any],
        started: list[str],
    ) -> None:
        """A multipart upload is stored only when completed: completed after the last
        chunk was read and its hash matched, aborted otherwise (and when the caller gave
        up: `_calls.over`). At most `max_concurrency` parts are in memory at once."""
        s3 = self._s3()
        target = {"Bucket": self.bucket, "Key": self.object_key(key)}
        upload_id = s3.create_multipart_upload(**target, **extra)["UploadId"]
        started.append(upload_id)
        room = threading.BoundedSemaphore(self._max_concurrency)
        over = _calls.over

        def send(number: int, chunk: bytes) -> dict[str, Any]:
            _calls.over = over  # this part's attempts end with the whole upload
            try:
                answer = s3.upload_part(
                    **target,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=chunk,
                    ContentMD5=_md5(chunk),
                )
                advance(len(chunk))
                return {"PartNumber": number, "ETag": answer["ETag"]}
            finally:
                room.release()

        try:
            with ThreadPoolExecutor(self._max_concurrency) as pool:
                sent = []
                for number, chunk in enumerate(verified_chunks(blob, MULTIPART_CHUNK), 1):
                    room.acquire()
                    if over():
                        raise DeadlineExceeded("the upload was given up")
                    sent.append(pool.submit(send, number, chunk))
                parts = [future.result() for future in sent]
            if over():
                raise DeadlineExceeded("the upload was given up")
            s3.complete_multipart_upload(
                **target, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            with contextlib.suppress(Exception):
                s3.abort_multipart_upload(**target, UploadId=upload_id)
            raise

    def url_for(self, key: str) -> tuple[str, datetime | None]:
        seconds = int(self.expires.total_seconds())

        def sign() -> Any:  # may look up credentials (an instance role) over the network
            return self._s3().generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": self.object_key(key)},
                ExpiresIn=seconds,
            )

        doing = f"signing a URL for {key} in {self.describe()}"
        url = self._bounded(doing, self._timeout, sign)
        return str(url), datetime.now(timezone.utc) + timedelta(seconds=seconds)


# --- an S3 store from settings ----------------------------------------------------------------
ENV_ENDPOINT = "KITTA_MEDIA_ENDPOINT_URL"
ENV_REGION = "KITTA_MEDIA_REGION"
ENV_ADDRESSING = "KITTA_MEDIA_ADDRESSING_STYLE"


def s3_store_at(spec: str, field: str, environ: Mapping[str, str] | None = None) -> S3Store:
    """The `S3Store` for ``s3://bucket/prefix`` (given as `field`), with the endpoint,
    region and addressing of the ``KITTA_MEDIA_*`` settings: one bucket configuration
    for published media and kept results."""
    env = os.environ if environ is None else environ
    parts = urlsplit(spec)
    if parts.scheme.lower() != "s3" or not parts.netloc or "@" in parts.netloc:
        shown = redact_url(spec)  # a mistaken key:secret@... URL is not echoed
        raise ValidationError([(field, f"must look like s3://bucket/prefix, got {shown!r}")])
    addressing = env.get(ENV_ADDRESSING, "").strip().lower() or None
    if addressing not in (None, "auto", "path", "virtual"):
        raise ValidationError([(ENV_ADDRESSING, "must be auto, path or virtual")])
    return S3Store(
        parts.netloc,
        parts.path,
        endpoint_url=env.get(ENV_ENDPOINT, "").strip() or None,
        region=env.get(ENV_REGION, "").strip() or None,
        addressing_style=addressing,  # type: ignore[arg-type]
    )
