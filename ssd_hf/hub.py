"""Every conversation with the Hugging Face Hub goes through this module.

Hub ids and local paths are interchangeable wherever a user names a model or dataset; `id@revision`
pins a revision.
"""

from __future__ import annotations

import logging
import os

from .errors import SSDError

logger = logging.getLogger(__name__)

LOCAL_DATA_SUFFIXES = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}


def split_revision(ref: str) -> tuple[str, str | None]:
    """'org/name@rev' -> ('org/name', 'rev'); a local path or plain id gets revision None."""
    if os.path.exists(ref) or "@" not in ref:
        return ref, None
    name, revision = ref.rsplit("@", 1)
    return name, revision or None


def load_dataset_any(ref: str, config: str | None = None, split: str = "train", revision: str | None = None):
    """A `datasets.Dataset` from a local file (JSONL/JSON/Parquet/CSV), a local folder, or a Hub id[@rev]."""
    import datasets

    name, pinned = split_revision(ref)
    revision = revision or pinned
    if os.path.isfile(name):
        suffix = os.path.splitext(name)[1].lower()
        if suffix not in LOCAL_DATA_SUFFIXES:
            raise SSDError(f"cannot read {name}: use a .jsonl, .json, .parquet or .csv file, or a dataset folder.")
        if os.path.getsize(name) == 0:
            raise SSDError(f"{name} is empty; give a file with at least one prompt.")
        try:
            return datasets.load_dataset(LOCAL_DATA_SUFFIXES[suffix], data_files=name, split="train")
        except Exception as error:  # noqa: BLE001 - any parse failure is a bad file for the user
            raise SSDError(f"cannot parse {name} as {LOCAL_DATA_SUFFIXES[suffix]}: {str(error).splitlines()[0]}") from None
    if os.path.isdir(name):
        if os.path.exists(os.path.join(name, "dataset_info.json")) or os.path.exists(os.path.join(name, "state.json")):
            loaded = datasets.load_from_disk(name)
            return loaded[split] if isinstance(loaded, datasets.DatasetDict) else loaded
        return datasets.load_dataset(name, config, split=split)
    if os.path.sep in name and not name.count("/") == 1 or name.startswith((".", "/", "~")):
        raise SSDError(f"{name} does not exist; check the path, or give a Hub dataset id like org/name.")
    try:
        return datasets.load_dataset(name, config, split=split, revision=revision)
    except Exception as error:  # noqa: BLE001
        raise SSDError(f"cannot load dataset {name!r} from the Hub: {str(error).splitlines()[0]}") from None


def push_space(folder: str, repo_id: str, private: bool = False, token: str | None = None,
               commit_message: str = "Upload SSD comparison Space") -> str:
    """Create (or reuse) a Gradio Space and upload `folder` to it; return the Space's URL.

    Uploading unchanged files makes no new commit (huggingface_hub skips identical content).
    """
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
        api.upload_folder(repo_id=repo_id, repo_type="space", folder_path=folder, commit_message=commit_message)
    except HfHubHTTPError as error:
        status = getattr(error.response, "status_code", None)
        if status in (401, 403):
            raise SSDError(f"the Hub refused to write Space {repo_id} (HTTP {status}); log in with "
                           "`hf auth login` or set HF_TOKEN to a token with write access.") from None
        raise SSDError(f"pushing Space {repo_id} failed: {str(error).splitlines()[0]}") from None
    return f"{api.endpoint}/spaces/{repo_id}"
