"""A job's large values on its page: shown shortened, downloadable whole as JSON.

Args, kwargs, a result, a checkpoint's value and an error text may be
megabytes, and rows stored before ``MAX_ARGS_BYTES`` and ``MAX_NESTING``
existed may be nested deeper than Python's ``json`` recurses (Django's
``JSONField`` would raise ``RecursionError`` just loading them). So the
admin never loads them as Python values: ``with_previews`` asks the database
for the start of each value's stored JSON text and its length, the page
pretty-prints what fits (``MAX_SHOWN_CHARS``), and ``download`` hands over the
stored text as it is.
"""

from __future__ import annotations

import json
from typing import Any

from django.db.models import F, Model, QuerySet, TextField
from django.db.models.functions import Cast, Left, Length, Right
from django.http import Http404, HttpResponse
from django.utils.html import format_html
from django.utils.safestring import SafeString

#: The values of a job the page shows shortened and offers for download.
JSON_FIELDS = ("args", "kwargs", "result")
TEXT_FIELDS = ("last_error",)
DOWNLOADABLE = (*JSON_FIELDS, *TEXT_FIELDS)

#: The most characters of one value the page shows.
MAX_SHOWN_CHARS = 10_000
#: A stored JSON text up to this long is parsed and pretty-printed; a longer one
#: is shown as stored (its start), without reading the rest from the database.
MAX_PARSED_CHARS = 1_000_000
#: How much of a long error text shows from its start; the rest of
#: ``MAX_SHOWN_CHARS`` comes from its end (a traceback's innermost frames).
ERROR_HEAD_CHARS = MAX_SHOWN_CHARS // 4


def stored_text(field: str, *, is_json: bool = True) -> Cast | F:
    """The value of ``field`` as the JSON text the database holds (no decoding in Python)."""
    return Cast(field, TextField()) if is_json else F(field)


def with_previews(
    queryset: QuerySet, json_fields: tuple[str, ...] = JSON_FIELDS, text_fields: tuple[str, ...] = ()
) -> QuerySet:
    """``queryset`` without the fields' values, but with ``<field>_head``/``_length`` (and,
    for text, ``_tail``) for ``json_preview`` and ``text_preview``."""
    annotations: dict[str, Any] = {}
    for field in json_fields:
        annotations[f"{field}_head"] = Left(stored_text(field), MAX_PARSED_CHARS)
        annotations[f"{field}_length"] = Length(stored_text(field))
    for field in text_fields:
        annotations[f"{field}_head"] = Left(field, ERROR_HEAD_CHARS)
        annotations[f"{field}_tail"] = Right(field, MAX_SHOWN_CHARS - ERROR_HEAD_CHARS)
        annotations[f"{field}_length"] = Length(field)
    return queryset.defer(*json_fields, *text_fields).annotate(**annotations)


def pretty(value: Any, limit: int = MAX_SHOWN_CHARS) -> str | None:
    """``value`` as indented JSON, cut after ``limit`` characters; None if nested too deep.

    ``json.dumps(indent=...)`` is pure Python and recurses once per level; a
    value nested near the recursion limit raises ``RecursionError``.
    """
    encoder = json.JSONEncoder(indent=2, ensure_ascii=False, sort_keys=True)
    parts: list[str] = []
    size = 0
    try:
        for chunk in encoder.iterencode(value):
            parts.append(chunk)
            size += len(chunk)
            if size > limit:
                break
    except (RecursionError, ValueError, TypeError):
        return None
    return "".join(parts)


def pretty_stored(text: str) -> str:
    """The stored JSON ``text`` pretty-printed, or as it is if it is nested too deep to parse."""
    try:
        value = json.loads(text)
    except (RecursionError, ValueError):
        return text
    return pretty(value) or text


def with_note(html: SafeString, whole: str, download_url: str | None) -> SafeString:
    """``html`` followed by a note that it is shortened, of the ``whole`` size and the download link."""
    link = ""
    if download_url:
        link = format_html(' <a href="{}" download>Download it as JSON</a>.', download_url)
    return format_html('{}<p class="djj-quiet djj-cut">Shortened: the whole is {}.{}</p>', html, whole, link)


def shortened(text: str, length: int, download_url: str | None) -> SafeString:
    """JSON ``text`` in a ``<pre>``, cut to ``MAX_SHOWN_CHARS`` (then with ``with_note``)."""
    if len(text) <= MAX_SHOWN_CHARS:
        return format_html('<pre class="djj-pre">{}</pre>', text)
    html = format_html('<pre class="djj-pre">{}…</pre>', text[:MAX_SHOWN_CHARS])
    return with_note(html, f"{length:,} characters of JSON", download_url)


def json_preview(obj: Model, field: str, download_url: str | None = None) -> SafeString:
    """A JSON field of ``obj`` (read by ``with_previews``), pretty-printed, shortened if long."""
    if hasattr(obj, f"{field}_length"):
        head, length = getattr(obj, f"{field}_head"), getattr(obj, f"{field}_length")
    else:  # a row not read through with_previews
        head = compact(getattr(obj, field))
        length = len(head)
    if head is None:  # SQL NULL
        return format_html('<pre class="djj-pre">{}</pre>', "null")
    if length > len(head):  # only its start came from the database
        text = head[: MAX_SHOWN_CHARS + 1]
    else:
        text = pretty_stored(head)
        if len(text) > MAX_SHOWN_CHARS >= length:  # all of it, if not indented
            text = head
    return shortened(text, length, download_url)


def text_preview(obj: Model, field: str, download_url: str | None = None) -> SafeString | str:
    """A text field of ``obj`` (read by ``with_previews``); a long one shows its start and end."""
    tail_chars = MAX_SHOWN_CHARS - ERROR_HEAD_CHARS
    if hasattr(obj, f"{field}_length"):
        head, tail = getattr(obj, f"{field}_head") or "", getattr(obj, f"{field}_tail") or ""
        length = getattr(obj, f"{field}_length") or 0
    else:  # a row not read through with_previews
        text = getattr(obj, field) or ""
        head, tail, length = text[:ERROR_HEAD_CHARS], text[max(len(text) - tail_chars, 0) :], len(text)
    if not length:
        return "-"
    rest = length - len(head)  # how much follows the head
    if length <= MAX_SHOWN_CHARS:
        return format_html('<pre class="djj-pre">{}</pre>', head + (tail[len(tail) - rest :] if rest else ""))
    text = f"{head}\n[… {length - len(head) - len(tail):,} characters not shown …]\n{tail}"
    html = format_html('<pre class="djj-pre">{}</pre>', text)
    return with_note(html, f"{length:,} characters", download_url)


def compact(value: Any) -> str:
    """``value`` as one-line JSON (the C encoder); a marker if even that recurses too deep."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (RecursionError, ValueError, TypeError) as exc:
        return f"(cannot be shown: {type(exc).__name__})"


def download(queryset: QuerySet, job_id: int, field: str) -> HttpResponse:
    """The whole value of ``field`` of job ``job_id`` as a JSON attachment, as stored."""
    if field not in DOWNLOADABLE:
        raise Http404(f"no value {field!r} to download")
    is_json = field in JSON_FIELDS
    row = queryset.filter(pk=job_id).annotate(whole=stored_text(field, is_json=is_json))
    found = row.values_list("pk", "whole").first()
    if found is None:
        raise Http404(f"job {job_id} does not exist")
    whole = found[1]
    if is_json:
        body = "null" if whole is None else whole
    else:
        body = json.dumps(whole or "", ensure_ascii=False)
    response = HttpResponse(body, content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="job-{job_id}-{field}.json"'
    return response
