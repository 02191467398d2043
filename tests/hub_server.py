"""A loopback stand-in for the Hugging Face Hub, for tests only (never shipped).

It speaks the part of the Hub HTTP protocol that the unmodified `huggingface_hub` client, `datasets` and
`transformers` use for our pushes and pulls: whoami, repo creation, pre-upload, commit, repo info by
revision, tree listing, paths-info and file resolve (HEAD and ranged GET), and Collections (list by owner,
create, get, add an item, update an item's note), answered in the shapes `HfApi`'s collection methods parse. Pre-upload answers "regular"
for every file, so the client sends contents inline in the commit and never needs LFS or Xet storage.
Every commit is kept, so tests can count commits and read every byte ever pushed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

PREFIXES = {"model": "", "dataset": "datasets/", "space": "spaces/"}


def git_blob_sha(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


@dataclass
class Commit:
    sha: str
    message: str
    files: dict[str, bytes]
    parent: str | None = None


@dataclass
class CollectionRecord:
    slug: str
    title: str
    owner: str
    private: bool
    description: str | None = None
    items: list[dict] = field(default_factory=list)  # {"_id", "id", "type", "position", "note": {"text"}}

    def payload(self) -> dict:
        return {"slug": self.slug, "title": self.title, "owner": {"name": self.owner, "type": "user"},
                "items": self.items, "lastUpdated": "2026-01-01T00:00:00.000Z", "position": 0,
                "private": self.private, "theme": "blue", "upvotes": 0, "description": self.description}


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool
    owner: str
    commits: list[Commit] = field(default_factory=list)
    branches: dict[str, str] = field(default_factory=dict)  # branch -> head commit sha

    def resolve(self, revision: str | None) -> Commit | None:
        revision = "main" if revision in (None, "HEAD") else revision
        revision = self.branches.get(revision, revision)
        return next((c for c in self.commits if c.sha == revision or (len(revision) >= 7 and c.sha.startswith(revision))), None)

    def branch_commits(self, branch: str = "main") -> list[Commit]:
        """Commits reachable from a branch head, oldest first (history is linear per branch)."""
        by_sha = {c.sha: c for c in self.commits}
        chain, sha = [], self.branches.get(branch)
        while sha:
            chain.append(by_sha[sha])
            sha = by_sha[sha].parent
        return chain[::-1]


class FakeHub:
    """Repos in memory plus a thread running the HTTP server on 127.0.0.1."""

    def __init__(self, tokens: dict[str, str], fail_next: int = 0):
        self.tokens = tokens  # token -> user name
        self.repos: dict[tuple[str, str], Repo] = {}
        self.collections: dict[str, CollectionRecord] = {}  # slug -> collection
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []
        self.fail_next = fail_next  # answer this many upcoming write requests with 503 (transient error)
        hub = self

        class Handler(_Handler):
            server_hub = hub

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def repo(self, repo_type: str, repo_id: str) -> Repo | None:
        return self.repos.get((repo_type, repo_id))

    def all_pushed_bytes(self) -> list[tuple[str, bytes]]:
        return [(f"{r.repo_id}:{c.sha}:{p}", data) for r in self.repos.values() for c in r.commits for p, data in c.files.items()]


SIZE_CATEGORIES = {"n<1K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M", "10M<n<100M", "100M<n<1B", "1B<n<10B",
                   "10B<n<100B", "100B<n<1T", "n>1T"}


def validate_card_metadata(content: str, repo_type: str) -> list[str]:
    """Errors in a README's YAML metadata; an empty list when it is valid."""
    import yaml

    match = re.match(r"^---\s*\n(.*?)\n---\s*\n", content, re.DOTALL)
    if not match:
        return ["README.md has no YAML metadata block"]
    try:
        data = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as error:
        return [f"invalid YAML: {error}"]
    if not isinstance(data, dict):
        return ["metadata must be a mapping"]
    errors = []
    for key in ("tags", "datasets", "language", "task_categories", "size_categories"):
        value = data.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            errors.append(f"'{key}' must be a list of strings")
    for key in ("base_model", "library_name", "license", "pipeline_tag"):
        value = data.get(key)
        if value is not None and not isinstance(value, (str, list)):
            errors.append(f"'{key}' must be a string")
    if data.get("license") == "other" and not data.get("license_name"):
        errors.append("'license: other' needs a license_name")
    for category in data.get("size_categories") or []:
        if category not in SIZE_CATEGORIES:
            errors.append(f"unknown size category {category!r}")
    if "model-index" in data:
        from huggingface_hub.repocard_data import model_index_to_eval_results

        try:
            _, results = model_index_to_eval_results(data["model-index"])
        except Exception as error:  # noqa: BLE001 - any failure is an invalid model-index
            errors.append(f"invalid model-index: {error}")
        else:
            for result in results:
                if not isinstance(result.metric_value, (int, float)):
                    errors.append(f"model-index metric {result.metric_type} must be a number")
    if repo_type == "dataset":
        for config in data.get("configs") or []:
            if not isinstance(config, dict) or "config_name" not in config or "data_files" not in config:
                errors.append("each entry of 'configs' needs config_name and data_files")
    return errors


TYPE_PATTERN = r"(?P<type>models|datasets|spaces)"
REPO_PATTERN = r"(?P<repo>[^/]+/[^/]+)"
ROUTES = [
    ("GET", re.compile(r"^/api/whoami-v2$"), "whoami"),
    ("GET", re.compile(r"^/api/collections$"), "list_collections"),
    ("POST", re.compile(r"^/api/collections$"), "create_collection"),
    ("GET", re.compile(r"^/api/collections/(?P<slug>[^/]+/[^/]+)$"), "get_collection"),
    ("POST", re.compile(r"^/api/collections/(?P<slug>[^/]+/[^/]+)/items$"), "add_collection_item"),
    ("PATCH", re.compile(r"^/api/collections/(?P<slug>[^/]+/[^/]+)/items/(?P<item>[^/]+)$"), "update_collection_item"),
    ("POST", re.compile(r"^/api/repos/create$"), "create"),
    ("POST", re.compile(r"^/api/validate-yaml$"), "validate_yaml"),
    ("POST", re.compile(rf"^/api/{TYPE_PATTERN}/{REPO_PATTERN}/preupload/(?P<rev>[^/]+)$"), "preupload"),
    ("POST", re.compile(rf"^/api/{TYPE_PATTERN}/{REPO_PATTERN}/commit/(?P<rev>[^/]+)$"), "commit"),
    ("POST", re.compile(rf"^/api/{TYPE_PATTERN}/{REPO_PATTERN}/branch/(?P<branch>[^/]+)$"), "branch"),
    ("POST", re.compile(rf"^/api/{TYPE_PATTERN}/{REPO_PATTERN}/paths-info/(?P<rev>[^/]+)$"), "paths_info"),
    ("GET", re.compile(rf"^/api/{TYPE_PATTERN}/{REPO_PATTERN}/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?$"), "tree"),
    ("GET", re.compile(rf"^/api/{TYPE_PATTERN}/{REPO_PATTERN}/revision/(?P<rev>[^/]+)$"), "info"),
    ("GET", re.compile(rf"^/api/{TYPE_PATTERN}/{REPO_PATTERN}$"), "info"),
    ("GET", re.compile(rf"^/(?:(?P<type>datasets|spaces)/)?{REPO_PATTERN}/resolve/(?P<rev>[^/]+)/(?P<path>.+)$"), "resolve"),
    ("HEAD", re.compile(rf"^/(?:(?P<type>datasets|spaces)/)?{REPO_PATTERN}/resolve/(?P<rev>[^/]+)/(?P<path>.+)$"), "resolve"),
]


class _Handler(BaseHTTPRequestHandler):
    server_hub: FakeHub
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    # ------------------------------------------------------------------ plumbing
    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, content_type: str = "application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str((headers or {}).pop("_length", len(body))))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, payload, headers: dict | None = None):
        self._send(status, json.dumps(payload).encode(), headers)

    def _error(self, status: int, message: str, code: str | None = None):
        headers = {"X-Error-Message": message}
        if code:
            headers["X-Error-Code"] = code
        self._json(status, {"error": message}, headers)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _user(self) -> tuple[bool, str | None]:
        """(token acceptable, user). A token that is present but unknown is never acceptable."""
        auth = self.headers.get("Authorization", "")
        if not auth:
            return True, None
        token = auth.removeprefix("Bearer ").strip()
        user = self.server_hub.tokens.get(token)
        return user is not None, user

    def _dispatch(self):
        hub = self.server_hub
        parsed = urlparse(self.path)
        path = unquote(parsed.path)
        query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        hub.requests.append((self.command, path))
        ok, user = self._user()
        if not ok:
            self._body()
            return self._error(401, "Invalid credentials in Authorization header")
        for method, pattern, name in ROUTES:
            match = pattern.match(path)
            if method == self.command and match:
                params = {k: v for k, v in match.groupdict().items()}
                repo_type = {"models": "model", "datasets": "dataset", "spaces": "space", None: "model"}[params.pop("type", None)]
                if name in ("create", "preupload", "commit", "create_collection", "add_collection_item") and hub.fail_next > 0:
                    hub.fail_next -= 1
                    self._body()
                    return self._error(503, "Service temporarily unavailable")
                with hub.lock:
                    return getattr(self, f"_{name}")(user=user, repo_type=repo_type, query=query, **params)
        self._body()
        self._error(404, f"no route for {self.command} {path}")

    do_GET = do_POST = do_HEAD = do_PATCH = _dispatch

    def _readable_repo(self, user, repo_type, repo) -> Repo | None:
        found = self.server_hub.repo(repo_type, repo)
        if found is None or (found.private and user != found.owner):
            self._error(404, "Repository not found", "RepoNotFound")
            return None
        return found

    def _writable_repo(self, user, repo_type, repo) -> Repo | None:
        if user is None:
            self._body()
            self._error(401, "You must be authenticated to write", None)
            return None
        found = self._readable_repo(user, repo_type, repo)
        if found is not None and found.owner != user:
            self._error(403, "You don't have the rights to write to this repository")
            return None
        return found

    # ------------------------------------------------------------------ routes
    def _whoami(self, user, **_):
        if user is None:
            return self._error(401, "Invalid credentials in Authorization header")
        self._json(200, {"type": "user", "name": user, "fullname": user, "orgs": [],
                         "auth": {"type": "access_token", "accessToken": {"displayName": "test", "role": "write"}}})

    def _create(self, user, **_):
        payload = json.loads(self._body() or b"{}")
        if user is None:
            return self._error(401, "You must be authenticated to create a repo")
        repo_type = payload.get("type") or "model"
        repo_id = f"{payload.get('organization') or user}/{payload['name']}"
        url = f"{self.server_hub.url}/{PREFIXES[repo_type]}{repo_id}"
        if self.server_hub.repo(repo_type, repo_id) is not None:
            return self._json(409, {"error": "You already created this repo", "url": url})
        if repo_id.split("/")[0] != user:
            return self._error(403, "You don't have the rights to create repos in this namespace")
        private = bool(payload.get("private")) or payload.get("visibility") in ("private", "protected")
        repo = Repo(repo_type, repo_id, private, user)
        initial = {".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"}
        first = Commit(hashlib.sha1(f"init {repo_type} {repo_id}".encode()).hexdigest(), "initial commit", initial)
        repo.commits.append(first)
        repo.branches["main"] = first.sha
        self.server_hub.repos[(repo_type, repo_id)] = repo
        self._json(200, {"url": url, "name": repo_id, "id": repo_id})

    def _validate_yaml(self, **_):
        """A README front matter check in the spirit of the Hub's: YAML mapping, well-typed common fields,
        model-index that huggingface_hub can turn back into EvalResults. Rejections are HTTP 400 with errors."""
        payload = json.loads(self._body() or b"{}")
        errors = validate_card_metadata(payload.get("content", ""), payload.get("repoType", "model"))
        if errors:
            return self._json(400, {"errors": [{"message": e} for e in errors]})
        self._json(200, {"errors": [], "warnings": []})

    def _preupload(self, user, repo_type, repo, rev, **_):
        payload = json.loads(self._body() or b"{}")
        found = self._writable_repo(user, repo_type, repo)
        if found is None:
            return
        head = found.resolve(rev)
        files = []
        for entry in payload.get("files", []):
            existing = head.files.get(entry["path"]) if head else None
            files.append({"path": entry["path"], "uploadMode": "regular", "shouldIgnore": False,
                          "oid": git_blob_sha(existing) if existing is not None else None})
        self._json(200, {"files": files, "commitOid": head.sha if head else None})

    def _commit(self, user, repo_type, repo, rev, **_):
        body = self._body()
        found = self._writable_repo(user, repo_type, repo)
        if found is None:
            return
        head = found.resolve(rev)
        if head is None:
            return self._error(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        files = dict(head.files)
        summary = ""
        for line in body.splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "header":
                summary = value.get("summary", "")
            elif key == "file":
                files[value["path"]] = base64.b64decode(value["content"])
            elif key == "deletedFile":
                files.pop(value["path"], None)
            elif key == "deletedFolder":
                prefix = value["path"].rstrip("/") + "/"
                files = {p: d for p, d in files.items() if not p.startswith(prefix)}
            else:
                return self._error(400, f"this test Hub does not support commit operation {key!r}")
        digest = hashlib.sha1(head.sha.encode() + summary.encode())
        for path in sorted(files):
            digest.update(path.encode() + git_blob_sha(files[path]).encode())
        sha = digest.hexdigest()
        if rev not in found.branches:
            return self._error(400, f"can only commit to a branch, not {rev}")
        found.commits.append(Commit(sha, summary, files, parent=head.sha))
        found.branches[rev] = sha
        url = f"{self.server_hub.url}/{PREFIXES[repo_type]}{repo}/commit/{sha}"
        self._json(200, {"success": True, "commitOid": sha, "commitUrl": url, "pullRequestUrl": None})

    def _branch(self, user, repo_type, repo, branch, **_):
        payload = json.loads(self._body() or b"{}")
        found = self._writable_repo(user, repo_type, repo)
        if found is None:
            return
        if branch in found.branches:
            return self._error(409, f"Branch {branch} already exists")
        start = found.resolve(payload.get("startingPoint") or "main")
        found.branches[branch] = start.sha
        self._json(200, {})

    def _info(self, user, repo_type, repo, rev=None, **_):
        found = self._readable_repo(user, repo_type, repo)
        if found is None:
            return
        commit = found.resolve(rev or "main")
        if commit is None:
            return self._error(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        self._json(200, {
            "_id": commit.sha[:24], "id": repo, "author": found.owner, "sha": commit.sha, "private": found.private,
            "disabled": False, "gated": False, "downloads": 0, "likes": 0, "tags": [], "lastModified": stamp,
            "createdAt": stamp, "siblings": [{"rfilename": p} for p in sorted(commit.files)],
        })

    def _entries(self, commit: Commit, prefix: str, recursive: bool) -> list[dict]:
        prefix = prefix.strip("/")
        base = f"{prefix}/" if prefix else ""
        entries, folders = [], set()
        for path in sorted(commit.files):
            if not path.startswith(base):
                continue
            rest = path[len(base):]
            parts = rest.split("/")
            for depth in range(1, len(parts)):
                if recursive or depth == 1:
                    folders.add(base + "/".join(parts[:depth]))
            if recursive or len(parts) == 1:
                data = commit.files[path]
                entries.append({"type": "file", "path": path, "size": len(data), "oid": git_blob_sha(data)})
        entries += [{"type": "directory", "path": f, "size": 0, "oid": hashlib.sha1(f.encode()).hexdigest()} for f in sorted(folders)]
        return entries

    def _tree(self, user, repo_type, repo, rev, path=None, query=None, **_):
        found = self._readable_repo(user, repo_type, repo)
        if found is None:
            return
        commit = found.resolve(rev)
        if commit is None:
            return self._error(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        prefix = (path or "").strip("/")
        if prefix and not any(p.startswith(prefix + "/") for p in commit.files):
            return self._error(404, f"{prefix} does not exist", "EntryNotFound")
        recursive = str((query or {}).get("recursive", "")).lower() in ("1", "true")
        self._json(200, self._entries(commit, prefix, recursive))

    def _paths_info(self, user, repo_type, repo, rev, **_):
        body = self._body()
        found = self._readable_repo(user, repo_type, repo)
        if found is None:
            return
        commit = found.resolve(rev)
        if commit is None:
            return self._error(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        content_type = self.headers.get("Content-Type", "")
        if "json" in content_type:
            paths = json.loads(body or b"{}").get("paths", [])
        else:
            paths = parse_qs(body.decode()).get("paths", [])
        result = []
        for path in paths:
            path = path.strip("/")
            if path in commit.files:
                data = commit.files[path]
                result.append({"type": "file", "path": path, "size": len(data), "oid": git_blob_sha(data)})
            elif path == "" or any(p.startswith(path + "/") for p in commit.files):
                result.append({"type": "directory", "path": path, "size": 0, "oid": hashlib.sha1(path.encode()).hexdigest()})
        self._json(200, result)

    def _resolve(self, user, repo_type, repo, rev, path, **_):
        found = self._readable_repo(user, repo_type, repo)
        if found is None:
            return
        commit = found.resolve(rev)
        if commit is None:
            return self._error(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        if path not in commit.files:
            return self._error(404, "Entry not found", "EntryNotFound")
        data = commit.files[path]
        headers = {"X-Repo-Commit": commit.sha, "ETag": f'"{git_blob_sha(data)}"', "Accept-Ranges": "bytes"}
        status, body = 200, data
        ranged = re.match(r"bytes=(\d*)-(\d*)", self.headers.get("Range", ""))
        if ranged and self.command == "GET":
            start = int(ranged.group(1) or 0)
            end = min(int(ranged.group(2)) if ranged.group(2) else len(data) - 1, len(data) - 1)
            status, body = 206, data[start:end + 1]
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        if self.command == "HEAD":
            headers["_length"] = len(data)
        self._send(status, body, headers, content_type="application/octet-stream")

    # ------------------------------------------------------------------ collections
    def _list_collections(self, user, query=None, **_):
        owner = (query or {}).get("owner")
        found = [c for c in self.server_hub.collections.values()
                 if (owner is None or c.owner == owner) and (not c.private or c.owner == user)]
        # the Hub truncates items here, and the client numbers the collections itself (no "position")
        self._json(200, [{k: v for k, v in {**c.payload(), "items": c.items[:4]}.items() if k != "position"} for c in found])

    def _collection(self, user, slug) -> CollectionRecord | None:
        found = self.server_hub.collections.get(slug)
        if found is None or (found.private and found.owner != user):
            self._error(404, "Collection not found")
            return None
        return found

    def _create_collection(self, user, **_):
        payload = json.loads(self._body() or b"{}")
        if user is None:
            return self._error(401, "You must be authenticated to create a collection")
        namespace = payload.get("namespace") or user
        if namespace != user:
            return self._error(403, "You don't have the rights to create collections in this namespace")
        same = next((c for c in self.server_hub.collections.values() if c.owner == namespace and c.title == payload["title"]), None)
        if same is not None:
            return self._json(409, {"error": "Collection already exists", "slug": same.slug})
        words = re.sub(r"[^a-z0-9]+", "-", payload["title"].lower()).strip("-")
        digest = hashlib.sha1(f"{namespace}/{payload['title']}".encode()).hexdigest()[:24]
        slug = f"{namespace}/{words}-{digest}"
        record = CollectionRecord(slug, payload["title"], namespace, bool(payload.get("private")), payload.get("description"))
        self.server_hub.collections[slug] = record
        self._json(200, record.payload())

    def _get_collection(self, user, slug, **_):
        found = self._collection(user, slug)
        if found is not None:
            self._json(200, found.payload())

    def _editable_collection(self, user, slug):
        """The collection `user` may edit, or None once the error (404, 403) is answered."""
        found = self._collection(user, slug)
        if found is not None and found.owner != user:
            self._error(403, "You don't have the rights to edit this collection")
            return None
        return found

    def _add_collection_item(self, user, slug, **_):
        payload = json.loads(self._body() or b"{}")
        found = self._editable_collection(user, slug)
        if found is None:
            return
        item = payload.get("item") or {}
        if self.server_hub.repo(item.get("type"), item.get("id")) is None:
            return self._error(404, f"{item.get('type')} {item.get('id')} not found")
        if any(i["id"] == item["id"] and i["type"] == item["type"] for i in found.items):
            return self._error(409, "Item already in the collection")
        object_id = hashlib.sha1(f"{slug}/{item['type']}/{item['id']}".encode()).hexdigest()[:24]
        found.items.append({"_id": object_id, "id": item["id"], "type": item["type"], "position": len(found.items),
                            **({"note": {"text": payload["note"]}} if payload.get("note") is not None else {})})
        self._json(200, found.payload())

    def _update_collection_item(self, user, slug, item, **_):
        payload = json.loads(self._body() or b"{}")
        found = self._editable_collection(user, slug)
        if found is None:
            return
        entry = next((i for i in found.items if i["_id"] == item), None)
        if entry is None:
            return self._error(404, "Item not found")
        if payload.get("note") is not None:
            entry["note"] = {"text": payload["note"]}
        if payload.get("position") is not None:
            entry["position"] = payload["position"]
        self._json(200, {"success": True})
