"""Every conversation with the Hugging Face Hub goes through this module, and nothing else happens here.

Transient failures (5xx, 429, dropped connections) are retried with exponential backoff (tenacity); a
missing or refused token is one line that says how to log in; no file holding the token is sent; a
commit whose content is already on the Hub is not made. What to push (samples, models, results, a
Space) is decided in `publish.py`.
"""

from __future__ import annotations

import logging
import os
import re

from .errors import SSDError, first_line
from .refs import is_local, split_revision

logger = logging.getLogger(__name__)

RETRY_DELAYS = (1.0, 2.0, 4.0)  # seconds before the 2nd, 3rd and 4th attempt (tests shorten them)
LOGIN_HINT = "log in with `hf auth login` or set HF_TOKEN to a token with write access"
TOKEN_PATTERN = re.compile(r"hf_[A-Za-z0-9]{8,}")


def scrub(text: str) -> str:
    """Remove anything that looks like a Hugging Face token from a message."""
    return TOKEN_PATTERN.sub("hf_***", text)


def _is_transient(error: BaseException) -> bool:
    """5xx, 429 and connection-level failures are worth retrying; anything else is not."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(error, HfHubHTTPError):
        status = getattr(error.response, "status_code", None)
        return status is not None and (status >= 500 or status == 429)
    return isinstance(error, (ConnectionError, TimeoutError, httpx2.TransportError))


def call(action: str, function):
    """Run `function()`, retrying transient Hub errors; anything else becomes one SSDError line."""
    from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError
    from tenacity import RetryError, Retrying, retry_if_exception, stop_after_attempt, wait_chain, wait_fixed

    def log_retry(state) -> None:
        error = state.outcome.exception()
        logger.warning("%s: transient error (%s); retry %d", action, type(error).__name__, state.attempt_number)

    retrying = Retrying(
        retry=retry_if_exception(_is_transient), stop=stop_after_attempt(len(RETRY_DELAYS) + 1),
        wait=wait_chain(*(wait_fixed(d) for d in RETRY_DELAYS)), before_sleep=log_retry,
    )
    try:
        return retrying(function)
    except LocalTokenNotFoundError:
        raise SSDError(f"{action} needs a Hugging Face token: {LOGIN_HINT}.") from None
    except RetryError as error:  # the last attempt was transient too
        raise SSDError(f"{action} failed after {len(RETRY_DELAYS) + 1} attempts: "
                       f"{scrub(first_line(error.last_attempt.exception()))}") from None
    except HfHubHTTPError as error:
        status = getattr(error.response, "status_code", None)
        if status in (401, 403):
            raise SSDError(f"the Hub refused {action} (HTTP {status}); {LOGIN_HINT}.") from None
        raise SSDError(f"{action} failed: {scrub(first_line(error))}") from None
    except Exception as error:  # noqa: BLE001 - any other failure is one line for the user
        raise SSDError(f"{action} failed: {scrub(first_line(error))}") from None


def api(token: str | None = None):
    from huggingface_hub import HfApi

    return HfApi(token=token)


def owned_repo_id(repo_id: str, token: str | None, action: str) -> str:
    """Check the token (one line if missing or refused); a bare name goes under the token's user, as Trainer does."""
    user = call(action, api(token).whoami).get("name", "")
    return repo_id if "/" in repo_id else f"{user}/{repo_id}"


def _check_no_token(files: dict[str, bytes | str], token: str | None) -> None:
    from huggingface_hub.utils import get_token

    secret = token or get_token()
    if not secret:
        return
    for path_in_repo, source in files.items():
        if isinstance(source, bytes):
            data = source
        else:
            with open(source, "rb") as handle:
                data = handle.read()
        if secret.encode() in data:
            raise SSDError(f"{path_in_repo} contains your Hugging Face token; remove it from the file before pushing.")


def commit(repo_id: str, repo_type: str, files: dict[str, bytes | str], message: str, private: bool = False,
           token: str | None = None, revision: str | None = None, space_sdk: str | None = None) -> str:
    """Create the repo if needed and commit `files` (path in repo -> bytes or local file) in one commit.

    Returns the commit URL; identical content makes no new commit (the Hub reports the current head).
    """
    from huggingface_hub import CommitOperationAdd

    _check_no_token(files, token)
    hf = api(token)
    action = f"pushing to {repo_type} repo {repo_id}"
    call(action, lambda: hf.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True,
                                        **({"space_sdk": space_sdk} if space_sdk else {})))
    if revision and revision != "main":
        call(action, lambda: hf.create_branch(repo_id, repo_type=repo_type, branch=revision, exist_ok=True))
    operations = [CommitOperationAdd(path_in_repo=path, path_or_fileobj=source) for path, source in sorted(files.items())]
    info = call(action, lambda: hf.create_commit(repo_id, operations, commit_message=message, repo_type=repo_type,
                                                 revision=revision))
    logger.info("Pushed %s %s: %s", repo_type, repo_id, info.commit_url)
    return info.commit_url


def folder_files(folder: str, ignore_patterns: list[str]) -> dict[str, str]:
    """Files of a local folder as path in repo -> local path, minus `ignore_patterns` (huggingface_hub's filter)."""
    from huggingface_hub.utils import filter_repo_objects

    paths = []
    for root, _, names in os.walk(folder):
        paths += [os.path.relpath(os.path.join(root, name), folder).replace(os.sep, "/") for name in names]
    kept = filter_repo_objects(sorted(paths), ignore_patterns=ignore_patterns)
    return {path: os.path.join(folder, path) for path in kept}


def snapshot(repo_id: str, repo_type: str, allow_patterns: list[str], revision: str | None = None,
             token: str | None = None, local_dir: str | None = None) -> str:
    """Download the matching files of a Hub repo (through the cache); returns the local folder."""
    from huggingface_hub import snapshot_download

    return call(f"downloading {repo_type} {repo_id}", lambda: snapshot_download(
        repo_id, repo_type=repo_type, revision=revision, token=token, local_dir=local_dir,
        allow_patterns=allow_patterns))


def download_dataset_file(repo_id: str, filename: str, revision: str | None = None) -> str:
    """One file of a Hub dataset repo, through the local cache (works offline once cached); returns its path."""
    from huggingface_hub import hf_hub_download

    return call(f"downloading {filename} from {repo_id}",
                lambda: hf_hub_download(repo_id, filename, repo_type="dataset", revision=revision))


def download_samples(repo_id: str, revision: str | None = None) -> str:
    """A pushed SSD samples dataset (data + manifest) in the local cache; one line when it is not one."""
    from .records import PUBLISHED_MANIFEST, STORE_MANIFEST

    # Datasets pushed before ssd_manifest.json carried the store's manifest at .store/manifest.json.
    local = snapshot(repo_id, "dataset", ["data/*.parquet", "data/*.jsonl", "*.jsonl", "*.parquet",
                                          PUBLISHED_MANIFEST, STORE_MANIFEST.replace(os.sep, "/")], revision)
    if not any(name.endswith((".parquet", ".jsonl")) for _, _, names in os.walk(local) for name in names):
        raise SSDError(f"Hub dataset {repo_id} has no Parquet or JSONL data; is it a samples dataset?")
    return local


def dataset_revision(ref: str) -> str | None:
    """What a prompt pool's revision is recorded as: 'local' for files and folders, else the Hub commit it resolves to.

    Falls back to the pinned `@revision` (or None) when the Hub cannot be asked and nothing is cached.
    """
    from huggingface_hub import snapshot_download

    name, pinned = split_revision(ref)
    if is_local(name):
        return "local"
    try:
        return api().dataset_info(name, revision=pinned).sha
    except Exception:  # noqa: BLE001 - offline or no access: try the local cache next
        pass
    try:
        cached = snapshot_download(name, repo_type="dataset", revision=pinned, local_files_only=True)
        return os.path.basename(os.path.normpath(cached))
    except Exception:  # noqa: BLE001 - nothing cached either
        logger.warning("Could not resolve the revision of dataset %s; the cards will show %s.", name, pinned or "not recorded")
        return pinned


def model_results_folder(ref: str, token: str | None = None) -> str | None:
    """Local folder with a Hub model repo's card, provenance and results/*.json (for the Space's Results tab).

    None when the repo cannot be reached (offline, private, missing): results are optional there.
    """
    from .records import PROVENANCE_FILE

    name, revision = split_revision(ref)
    try:
        return snapshot(name, "model", ["README.md", PROVENANCE_FILE, "results/*.json"], revision, token)
    except SSDError as error:
        logger.warning("%s", error)
        return None


def collection(title: str, token: str | None = None, private: bool = False, description: str | None = None):
    """The caller's Collection titled `title`, created if it does not exist yet (a rerun finds the same one)."""
    hf = api(token)
    action = f"creating collection {title!r}"
    owner = call(action, hf.whoami).get("name")
    for found in call(action, lambda: list(hf.list_collections(owner=owner))):
        if found.title == title:
            return call(action, lambda slug=found.slug: hf.get_collection(slug))
    return call(action, lambda: hf.create_collection(title, description=description, private=private, exists_ok=True))


def gather(slug: str, items: list[tuple[str, str, str]], token: str | None = None):
    """Put each (repo id, repo type, note) in the collection: a missing item is added, a changed note updated, and
    nothing is written for what is already there as asked (no duplicates on a rerun). Returns the collection."""
    hf = api(token)
    action = f"updating collection {slug}"
    present = {(item.item_type, item.item_id): item for item in call(action, lambda: hf.get_collection(slug)).items}
    for repo_id, repo_type, note in items:
        item = present.get((repo_type, repo_id))
        if item is None:
            call(action, lambda r=repo_id, t=repo_type, n=note: hf.add_collection_item(slug, r, t, note=n, exists_ok=True))
        elif (item.note or "") != note:
            call(action, lambda i=item.item_object_id, n=note: hf.update_collection_item(slug, i, note=n))
    return call(action, lambda: hf.get_collection(slug))
