"""Checks of what a user names, made before anything heavy loads: a model reference, YAML value types.

Why here: transformers answers a missing local folder with 80 lines that blame the repo-id syntax, and an id
that is not in the offline cache with a network error; argparse takes a YAML list as a number's default
and fails much later. One line each, naming the fix, instead.
"""

from __future__ import annotations

import os

from .errors import SSDError, first_line
from .refs import looks_local, split_revision

MODEL_FILES = ("config.json", "adapter_config.json")


def check_model_ref(ref: str, revision: str | None = None, flag: str = "--model_name_or_path") -> None:
    """A local model folder with a config, or a Hub id that can be reached (or is cached when offline)."""
    name, pinned = split_revision(str(ref))
    revision = revision or pinned
    if os.path.isdir(name):
        if not any(os.path.isfile(os.path.join(name, f)) for f in MODEL_FILES):
            raise SSDError(f"{flag} {name} is a folder without config.json; give a folder written by "
                           "`save_pretrained` (or `ssd-hf train`), or a Hub id like org/name.")
        return
    if os.path.exists(name):
        raise SSDError(f"{flag} {name} is a file; give a model folder or a Hub id like org/name.")
    if looks_local(name) or name.count("/") > 1:
        raise SSDError(f"{flag} {name} does not exist; check the path, or give a Hub id like org/name.")
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError:
        raise SSDError(f"{flag} {name!r} is neither a local folder nor a Hub id; give a path or an id like "
                       "org/name.") from None
    _check_hub_model(name, revision, flag)


def _check_hub_model(name: str, revision: str | None, flag: str) -> None:
    from huggingface_hub import constants, try_to_load_from_cache

    if constants.HF_HUB_OFFLINE:
        if not any(isinstance(try_to_load_from_cache(name, f, revision=revision), str) for f in MODEL_FILES):
            raise SSDError(f"{flag} {name} is not in the local Hub cache and HF_HUB_OFFLINE=1 forbids downloading it; "
                           f"download it first (`hf download {name}`) or unset HF_HUB_OFFLINE.")
        return
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    from .hub import api

    try:
        api().model_info(name, revision=revision)
    except RepositoryNotFoundError:
        raise SSDError(f"{flag} {name} is not a model on the Hub (or it is private and no token is set); check the "
                       "id, or log in with `hf auth login`.") from None
    except RevisionNotFoundError:
        raise SSDError(f"{flag} {name} has no revision {revision!r}; give a branch, tag or commit it has.") from None
    except Exception as error:  # noqa: BLE001 - a network failure here is for the load to report, with retries
        if "401" in first_line(error) or "403" in first_line(error):
            raise SSDError(f"the Hub refused access to {name}; log in with `hf auth login` or set HF_TOKEN.") from None


def check_yaml_types(values: dict, parser, path: str) -> None:
    """A YAML value of the wrong type (a list where a number goes, `temperature: hot`): one line naming the key."""
    actions = {action.dest: action for action in parser._actions}
    for key, value in values.items():
        action = actions.get(key)
        kind = getattr(action, "type", None)
        if action is None or kind not in (int, float) or action.nargs not in (None, "?") or isinstance(value, bool):
            continue
        try:
            kind(value) if isinstance(value, (int, float, str)) else kind([])
        except (TypeError, ValueError):
            shown = "a list" if isinstance(value, list) else "a mapping" if isinstance(value, dict) else repr(value)
            raise SSDError(f"{path}: {key} must be one {'whole number' if kind is int else 'number'} (got {shown}); "
                           "fix the value in the file.") from None
