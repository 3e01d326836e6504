"""Which store publishes local inputs: one given in code, one from the environment, the
sandbox's own, or a clear error that says how to configure one."""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit

from .._redact import redact_url
from ..errors import ValidationError
from .s3_store import AddressingStyle, S3Store
from .sandbox_store import SandboxStore
from .store import MediaStore

__all__ = ["HOW_TO_CONFIGURE", "resolve_store", "store_from_env"]

ENV_STORE = "KITTA_MEDIA_STORE"
ENV_ENDPOINT = "KITTA_MEDIA_ENDPOINT_URL"
ENV_REGION = "KITTA_MEDIA_REGION"
ENV_ADDRESSING = "KITTA_MEDIA_ADDRESSING_STYLE"

HOW_TO_CONFIGURE = (
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
    "Or pass store=S3Store(...) in code, or give a public http(s) URL instead."
)


def store_from_env(environ: Mapping[str, str] | None = None) -> S3Store | None:
    """The `S3Store` that ``KITTA_MEDIA_STORE=s3://bucket/prefix`` names, or None if unset."""
    env = os.environ if environ is None else environ
    spec = env.get(ENV_STORE, "").strip()
    if not spec:
        return None
    parts = urlsplit(spec)
    if parts.scheme.lower() != "s3" or not parts.netloc:
        shown = redact_url(spec)  # a mistaken https://key:secret@... URL is not echoed
        raise ValidationError([(ENV_STORE, f"must look like s3://bucket/prefix, got {shown!r}")])
    addressing = env.get(ENV_ADDRESSING, "").strip().lower() or None
    if addressing not in (None, "auto", "path", "virtual"):
        raise ValidationError([(ENV_ADDRESSING, "must be auto, path or virtual")])
    style: AddressingStyle | None = addressing  # type: ignore[assignment]
    return S3Store(
        parts.netloc,
        parts.path,
        endpoint_url=env.get(ENV_ENDPOINT, "").strip() or None,
        region=env.get(ENV_REGION, "").strip() or None,
        addressing_style=style,
    )


def resolve_store(
    store: MediaStore | None = None,
    *,
    sandbox_url: str | None = None,
    field: str = "store",
    environ: Mapping[str, str] | None = None,
) -> MediaStore:
    """The store to publish with: `store` if given, else the sandbox's (when `sandbox_url`,
    the sandbox origin, is given: a sandbox client never uploads to real storage by
    surprise), else the environment's, else a `ValidationError` naming `field`
    that explains how to configure one. Call it before anything is sent."""
    if store is not None:
        return store
    if sandbox_url is not None:
        return SandboxStore(sandbox_url)
    configured = store_from_env(environ)
    if configured is not None:
        return configured
    message = f"This is a local file, and no media store is set up. {HOW_TO_CONFIGURE}"
    raise ValidationError([(field, message)])
