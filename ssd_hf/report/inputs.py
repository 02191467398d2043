"""What a report is made from: results files found from result folders or a run folder, each with its role.

A role says what the numbers stand for: `base@T_train` (the base decoded as the samples were drawn, the
decisive control), `base@best-T` (the base at its own best held-out T_eval), `ssd` (a trained round), or
`base` (the base at some other decoding). results.json carries `role` (and `round`) when `ssd-hf run`
wrote it; older files get one inferred from the model folder's ssd_provenance.json and the decoding.

Results on different problem sets or graders are never put side by side: `check_comparable` refuses
them in one line naming both.
"""

from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass

from ..errors import SSDError
from ..eval.problem_sets import ids_hash, selection_label

RESULTS_NAMES = (os.path.join("eval", "results.json"), "results.json")


@dataclass
class Entry:
    """One results file in the report."""

    label: str
    role: str  # base@T_train | base@best-T | base | ssd
    round: int | None
    path: str
    results: dict

    @property
    def selection(self) -> dict:
        return self.results["config"].get("problem_selection") or {}

    @property
    def grader(self) -> dict:
        return self.results.get("grader") or {"name": "unrecorded", "version": "?"}

    @property
    def temperature(self) -> float | None:
        return (self.results["config"].get("decoding") or {}).get("temperature")


def results_path(ref: str) -> str:
    """A results file, or the folder holding one: <model>/eval/results.json first, then <folder>/results.json."""
    if os.path.isfile(ref):
        return ref
    for name in RESULTS_NAMES:
        if os.path.isfile(os.path.join(ref, name)):
            return os.path.join(ref, name)
    raise SSDError(f"no results.json in {ref} (looked for {' and '.join(RESULTS_NAMES)}); pass a results file or an "
                   "`ssd-hf eval --output` folder")


def read_results(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, json.JSONDecodeError) as exc:
        raise SSDError(f"cannot read {path} ({exc}); pass a results.json written by `ssd-hf eval`") from None
    if not isinstance(data, dict) or "aggregates" not in data or "problems" not in data:
        raise SSDError(f"{path} is not an `ssd-hf eval` results file (no aggregates/problems)")
    return data


def run_folder_refs(folder: str) -> list[str]:
    """A run folder's results: the base controls (controls/*/results.json), then each round's model
    (the folder itself, or round-*/ for a multi-round run)."""
    refs = sorted(glob.glob(os.path.join(folder, "controls", "*", "results.json")))
    rounds = sorted(glob.glob(os.path.join(folder, "round-*")), key=lambda p: int(p.rsplit("-", 1)[-1]) if p.rsplit("-", 1)[-1].isdigit() else 0)
    for model in rounds or [folder]:
        try:
            refs.append(results_path(model))
        except SSDError:
            continue
    return refs


def expand(refs: list[str]) -> list[str]:
    """Every given ref as results files: a run folder (with controls/ or round-*/) gives all of its own."""
    out = []
    for ref in refs:
        if os.path.isdir(ref) and (os.path.isdir(os.path.join(ref, "controls")) or glob.glob(os.path.join(ref, "round-*"))):
            out += run_folder_refs(ref)
        else:
            out.append(results_path(ref))
    return list(dict.fromkeys(out))


def _ssd_round(results: dict) -> int | None:
    """The round of an SSD model's results (its provenance says), or None for a base model."""
    from ..records import read_provenance

    if results.get("role") == "ssd":
        return int(results.get("round") or 1)
    if str(results.get("role", "")).startswith("base"):
        return None
    model = results["config"].get("model")
    provenance = read_provenance(model) if model and os.path.isdir(model) else None
    if provenance is None:
        return None
    return int(getattr(provenance, "round", None) or 1)


def _infer_role(results: dict, ssd_decodings: list[dict]) -> str:
    if results.get("role"):
        return results["role"]
    if results.get("baseline") or results.get("best"):
        return "base@best-T"
    decoding = results["config"].get("decoding") or {}
    mine = (decoding.get("temperature"), decoding.get("top_k"), decoding.get("top_p"))
    if any(mine == (s.get("temperature"), s.get("top_k"), s.get("top_p")) for s in ssd_decodings):
        return "base@T_train"
    return "base"


def _train_decodings(entries: list[tuple[str, dict, int | None]]) -> list[dict]:
    from ..records import read_provenance

    found = []
    for _, results, round_ in entries:
        model = results["config"].get("model")
        provenance = read_provenance(model) if round_ and model and os.path.isdir(model) else None
        if provenance is not None:
            found.append(provenance.sampling)
    return found


def load_entries(refs: list[str], labels: dict[str, str] | None = None) -> list[Entry]:
    """Entries in report order (base controls, then rounds), each labelled by its role and T_eval."""
    raw = [(path, results, _ssd_round(results)) for path in expand(refs) for results in [read_results(path)]]
    decodings = _train_decodings(raw)
    entries = []
    for path, results, round_ in raw:
        role = "ssd" if round_ else _infer_role(results, decodings)
        t = (results["config"].get("decoding") or {}).get("temperature")
        name = f"SSD round {round_}" if round_ else role
        label = (labels or {}).get(path) or (f"{name} (T={t:g})" if isinstance(t, (int, float)) else name)
        entries.append(Entry(label, role, round_, path, results))
    seen: dict[str, int] = {}
    for e in entries:
        seen[e.label] = seen.get(e.label, 0) + 1
    for e in entries:
        if seen[e.label] > 1 and e.path not in (labels or {}):
            e.label = f"{e.label} [{os.path.basename(os.path.dirname(os.path.abspath(e.path)))}]"
    order = {"base@T_train": 0, "base": 1, "base@best-T": 2, "ssd": 3}
    return sorted(entries, key=lambda e: (order.get(e.role, 1), e.round or 0))


def _key(entry: Entry) -> tuple:
    selection = entry.selection
    ids = selection.get("ids_sha256") or ids_hash(selection.get("question_ids") or [])
    return selection.get("name") or selection.get("description"), ids


def check_comparable(entries: list[Entry]) -> None:
    """Refuse, in one line naming both, results on different problem sets or graders."""
    first = entries[0]
    for other in entries[1:]:
        if _key(other) != _key(first):
            raise SSDError(f"cannot compare results on different problem sets: {first.path} is on "
                           f"{selection_label(first.selection)}, {other.path} on {selection_label(other.selection)}; "
                           "evaluate both on the same set")
        g1, g2 = first.grader, other.grader
        if (g1.get("name"), g1.get("version")) != (g2.get("name"), g2.get("version")):
            raise SSDError(f"cannot compare results judged by different graders: {first.path} by {g1.get('name')} "
                           f"v{g1.get('version')}, {other.path} by {g2.get('name')} v{g2.get('version')}; "
                           "score both with the same --grader")
