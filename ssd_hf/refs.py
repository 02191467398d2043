"""Names of models and datasets: Hub id, `id@revision`, or a path on this machine. One set of rules.

Users name a model or dataset the same way everywhere (the CLI, recipes, the Python API, the Space):
`org/name`, `org/name@revision` or a local file/folder. Every module that must tell them apart, or
record or publish one, asks here, so a name means the same thing in every stage and card.
"""

from __future__ import annotations

import os

DATA_FILE_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")


def split_revision(ref: str) -> tuple[str, str | None]:
    """'org/name@rev' -> ('org/name', 'rev'); an existing path or a name without '@' gets revision None."""
    ref = str(ref)
    if os.path.exists(ref) or "@" not in ref:
        return ref, None
    name, revision = ref.rsplit("@", 1)
    return name, revision or None


def looks_local(name: str) -> bool:
    """A name that can only mean a path: ./ ../ / ~ in front, a data-file suffix, or more path than org/name."""
    name = str(name)
    return (
        name.startswith((".", "/", "~"))
        or os.path.splitext(name)[1].lower() in DATA_FILE_SUFFIXES
        or name.count("/") > 1
        or bool(os.altsep and os.altsep in name)
    )


def is_local(ref: str) -> bool:
    """True for a path (existing, or one that can only be a path); False for a Hub id[@revision]."""
    name = split_revision(ref)[0]
    return os.path.exists(name) or looks_local(name)


def hub_id(ref: str | None) -> str | None:
    """The Hub id (org/name, no revision) a reference names, or None when it names a local path."""
    if not ref:
        return None
    name = split_revision(str(ref))[0].rstrip("/")
    if is_local(name) or name.count("/") != 1:
        return None
    return name


def public_name(ref: str | None) -> str | None:
    """What may be published about a reference: Hub ids as given; a local path only by its last part."""
    if ref is None:
        return None
    ref = str(ref)
    if hub_id(ref):
        return ref
    return os.path.basename(ref.rstrip("/" + os.sep)) or ref


def model_key(ref: str) -> str:
    """Compare models by Hub id, or by folder name for local paths (a model moved between machines is the same)."""
    return hub_id(ref) or os.path.basename(split_revision(str(ref))[0].rstrip("/" + os.sep))


def recorded_revision(ref: str, revision: str | None = None, commit: str | None = None) -> str:
    """The revision a record keeps for a model: the pinned one, else the commit the weights came from,
    else "local" for a folder on this machine, else "main" (a Hub id whose commit was not reported)."""
    if revision and revision != "main":
        return revision
    if commit:
        return commit
    name, pinned = split_revision(ref)
    if pinned:
        return pinned
    return "local" if is_local(name) else (revision or "main")


def loading_revision(revision: str | None) -> str | None:
    """The revision to pass to `from_pretrained`: None for the default branch, so local folders load too."""
    return None if revision in (None, "", "main") else revision


def strip_local_paths(value):
    """Recorded facts as they may be published: local paths cut to their last part; ids, URLs and text kept."""
    if isinstance(value, dict):
        return {key: strip_local_paths(item) for key, item in value.items()}
    if isinstance(value, list):
        return [strip_local_paths(item) for item in value]
    if is_machine_path(value):
        return os.path.basename(value.rstrip("/" + os.sep)) or value
    return value


def is_machine_path(value) -> bool:
    """A string that names a place on this machine (absolute, ~, or an existing relative path with a separator)."""
    if not isinstance(value, str) or "\n" in value or "://" in value:
        return False
    return os.path.isabs(value) or value.startswith("~") or (os.sep in value and os.path.exists(value))


def redact_url(url: str) -> str:
    """A server URL without user:password, for logs, messages and records."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.username or parts.password:
        parts = parts._replace(netloc=(parts.hostname or "") + (f":{parts.port}" if parts.port else ""))
    return urlunsplit(parts).rstrip("/")
