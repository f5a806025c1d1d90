"""Batch jobs: read a jobs file, expand globs, resolve each job's config, hash it, derive its seed.

A jobs file is TOML: a ``[defaults]`` table that applies to every job (keys a kind does not take
are left out for that kind), optional ``[defaults.mesh]`` / ``[defaults.draw]`` /
``[defaults.paint]`` tables for one kind, and ``[[jobs]]`` entries::

    [defaults]
    clip = ["ViT-B-32:openai"]
    seed = 0

    [[jobs]]
    kind = "mesh"
    input = "meshes/*.obj"          # a glob: one job per matching file
    prompt = "a vase made of colorful crochet"
    preset = "fast"
    set = { "field.sigma" = 8.0 }   # any config key, as --set

Relative paths (``input``, ``style``, ``init``, ``image_prompt``, ``config``, a palette image and
``local-dir:`` CLIP folders) are relative to the jobs file's folder.

Each job becomes a :class:`Job`: pure data (the kind, the input file, the fully resolved config as
plain dicts). Its content hash covers the input files' bytes and the resolved config (not file
names, the device or the job's position), names its output folder, and with the base seed gives
the job's own seed, so a job's result does not depend on which executor or worker runs it.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import json
import logging
import os
import re
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stylize.config import flatten_keys, load_toml, to_dict
from stylize.errors import InputError
from stylize.pipeline.kinds import _COMMON_KEYS, _LIST_KEYS, JOB_KINDS, JobKind
from stylize.utils import file_sha256

logger = logging.getLogger(__name__)

__all__ = ["Job", "load_jobs", "parse_jobs"]

HASH_VERSION = "stylize-batch/1"
_GLOB_CHARS = re.compile(r"[*?\[]")
#: Directory entries one input glob may look through before it is refused.
GLOB_BUDGET = 100_000
_LOCAL_DIR = re.compile(r"^local-dir:(?P<path>.+?)(?P<weight>@[-+0-9.eE]+)?$")
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


@dataclass(frozen=True)
class Job:
    """One unit of batch work, as plain data (picklable, JSON-able through :meth:`to_dict`).

    Attributes:
        id: ``KIND-HASH12``, also the name of its output folder.
        kind: a key of :data:`JOB_KINDS`.
        name: a label for tables (the job's ``name``, else the input's stem or the prompt).
        index: 1-based position of its ``[[jobs]]`` entry in the file.
        input: the input file (absolute) or None.
        config: the fully resolved config as nested plain dicts; ``seed`` is the derived seed.
        seed: the derived seed.
        digest: the full sha256 content hash.
    """

    id: str
    kind: str
    name: str
    index: int
    input: str | None
    config: dict
    seed: int
    digest: str

    @property
    def prompt(self) -> str:
        value = self.config.get("prompt") or self.config.get("prompts") or self.config.get("image_prompts") or ""
        return value if isinstance(value, str) else " | ".join(value)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def file_digest(path: str | Path) -> str:
    """``sha256:HEX`` of a file's bytes, or ``missing:PATH`` when there is none (the job then
    fails when it runs, alone).

    Raises:
        InputError: ``path`` is not a regular file holding what its size says (a device, a pipe,
            or a pseudo-file such as ``/proc/self/pagemap`` whose reading never ends).
    """
    path = Path(path)
    if not path.is_file():
        return f"missing:{path.name}"
    check_regular_file(path)
    return f"sha256:{file_sha256(path)}"


def check_regular_file(path: Path) -> None:
    """Refuse ``path`` unless it is a regular file that holds exactly its size in bytes."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"input {path} is not a regular file")
        with open(path, "rb") as handle:  # pseudo-files (/proc, /sys) say 0 bytes and hold more
            handle.seek(info.st_size)
            extra = handle.read(1)
    except OSError as exc:
        raise InputError(f"cannot read input {path}: {exc.strerror or exc}") from None
    if extra:
        raise InputError(f"input {path} is not a regular file (it holds more than its size of {info.st_size} bytes)")


def bounded_glob(pattern: str, base: Path, budget: int = GLOB_BUDGET) -> list[str]:
    """The paths matching ``pattern`` (relative to ``base``), as :func:`glob.glob` with
    ``recursive=True`` finds them (``**`` any depth, hidden names only when the pattern part starts
    with a dot), but looking at no more than ``budget`` directory entries and never following a
    symbolic link into a folder: a pattern such as ``/**`` is refused instead of walking the disk.

    Raises:
        InputError: the pattern would look at more than ``budget`` entries.
    """
    path = Path(pattern).expanduser()
    anchor, parts = (Path(path.anchor), path.parts[1:]) if path.is_absolute() else (base, path.parts)
    # The literal prefix: the folder the walk starts in (the base's own name is never a pattern).
    first = next((index for index, part in enumerate(parts) if _GLOB_CHARS.search(part)), len(parts))
    start = anchor.joinpath(*parts[:first])
    seen = [0]

    def entries(folder: Path) -> list[os.DirEntry]:
        try:
            with os.scandir(folder) as scan:
                found = list(scan)
        except OSError:
            return []
        seen[0] += len(found)
        if seen[0] > budget:
            raise InputError(f"key 'input': the glob {pattern!r} looks through more than {budget:,} files and folders: "
                             "name a narrower pattern")  # fmt: skip
        return found

    def visible(name: str, part: str) -> bool:
        return not name.startswith(".") or part.startswith(".")

    def walk(folder: Path, rest: tuple[str, ...]) -> list[Path]:
        if not rest:
            return [folder]
        part, tail = rest[0], rest[1:]
        if part == "**":
            found = walk(folder, tail)  # zero folders
            for entry in entries(folder):
                if not visible(entry.name, part):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    found += walk(Path(entry.path), rest)
                elif not tail:  # a last "**" matches files too
                    found.append(Path(entry.path))
            return found
        if not _GLOB_CHARS.search(part):
            candidate = folder / part
            return walk(candidate, tail) if (candidate.exists() or candidate.is_symlink()) else []
        found = []
        for entry in entries(folder):
            if visible(entry.name, part) and fnmatch.fnmatchcase(entry.name, part):
                if not tail or entry.is_dir():
                    found += walk(Path(entry.path), tail)
        return found

    return sorted({str(match) for match in walk(start, parts[first:]) if match != anchor})  # (the base: no input)


def derive_seed(digest: str) -> int:
    """A 31-bit seed from a content hash (which already covers the base seed)."""
    return int(digest[:8], 16) & 0x7FFFFFFF


def load_jobs(path: str | Path) -> list[Job]:
    """Read and expand a jobs file (see the module docstring).

    Raises:
        InputError: the file is missing or not TOML, or a job is malformed; the one-line message
            names the file, the job and the key.
    """
    path = Path(path)
    return parse_jobs(load_toml(path), base_dir=path.parent, source=str(path))


def parse_jobs(data: Mapping[str, Any], base_dir: str | Path = ".", source: str = "jobs") -> list[Job]:
    """Expand parsed jobs-file data into :class:`Job` objects, validated up front.

    Args:
        data: ``{"defaults": {...}, "jobs": [{...}, ...]}``.
        base_dir: folder that relative paths are relative to.
        source: how to name the file in error messages.

    Returns:
        The jobs in file order, globs expanded in sorted order; a job whose content equals an
        earlier one's is kept once.
    """
    base = Path(base_dir).resolve()
    if not isinstance(data, Mapping):
        raise InputError(f"{source}: expected a table with [defaults] and [[jobs]]")
    unknown = set(data) - {"defaults", "jobs"}
    if unknown:
        raise InputError(f"{source}: unknown top-level key {sorted(unknown)[0]!r} (expected [defaults] and [[jobs]])")
    defaults = _check_defaults(data.get("defaults", {}), source)
    entries = data.get("jobs")
    if not isinstance(entries, list) or not entries:
        raise InputError(f"{source}: no jobs: add at least one [[jobs]] entry")
    jobs: list[Job] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries, start=1):
        where = f"{source}: job {index}"
        if not isinstance(entry, Mapping):
            raise InputError(f"{where}: expected a table, got {type(entry).__name__}")
        if isinstance(entry.get("name"), str):
            where += f" ({entry['name']})"
        try:
            expanded = _expand(index, _merge(defaults, entry), base)
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None
        for job in expanded:
            if job.id in seen:
                logger.info("%s: %s is the same work as an earlier job; it runs once", where, job.name)
                continue
            seen.add(job.id)
            jobs.append(job)
    return jobs


def _check_defaults(defaults: Any, source: str) -> dict:
    if not isinstance(defaults, Mapping):
        raise InputError(f"{source}: [defaults] must be a table")
    known = set().union(*(kind.keys for kind in JOB_KINDS.values()))
    for key, value in defaults.items():
        if key in JOB_KINDS:
            if not isinstance(value, Mapping):
                raise InputError(f"{source}: [defaults.{key}] must be a table")
            extra = set(value) - JOB_KINDS.lookup(key).keys
            if extra:
                raise InputError(f"{source}: [defaults.{key}]: unknown key {sorted(extra)[0]!r} for kind {key!r}")
        elif key not in known:
            raise InputError(f"{source}: [defaults]: unknown key {key!r}")
    return dict(defaults)


def _merge(defaults: Mapping[str, Any], entry: Mapping[str, Any]) -> dict:
    """defaults (keys the kind takes) <- defaults.KIND <- the job; ``set`` tables are merged."""
    kind_name = entry.get("kind", defaults.get("kind"))
    kind = _kind(kind_name)
    unknown = set(entry) - kind.keys
    if unknown:
        raise InputError(f"unknown key {sorted(unknown)[0]!r} for kind {kind.name!r} (known: {', '.join(sorted(kind.keys))})")
    merged: dict[str, Any] = {"set": {}}
    layers = [{k: v for k, v in defaults.items() if k in kind.keys}, defaults.get(kind.name, {}), entry]
    for layer in layers:
        for key, value in layer.items():
            if key == "set":
                if not isinstance(value, Mapping):
                    raise InputError("key 'set': expected a table of config keys and values")
                merged["set"].update(flatten_keys(value))
            else:
                merged[key] = value
    merged["kind"] = kind.name
    return merged


def _kind(name: Any) -> JobKind:
    if name is None:
        raise InputError(f"missing key 'kind': expected one of {', '.join(JOB_KINDS)}")
    return JOB_KINDS.lookup(name, "kind")


def _as_list(key: str, value: Any) -> list:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise InputError(f"key {key!r}: expected a string or a list of strings, got {value!r}")


def _relative_to(base: Path, value: str) -> str:
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else base / path)


def _expand(index: int, job: dict, base: Path) -> list[Job]:
    """One merged ``[[jobs]]`` entry -> one job per input file."""
    kind = JOB_KINDS.lookup(job["kind"])
    if kind.input_key is not None and "input" in job and kind.input_key in job:
        raise InputError(f"keys 'input' and {kind.input_key!r} name the same thing: give one")
    raw_input = job.get("input", job.get(kind.input_key) if kind.input_key else None)
    if raw_input is None and kind.input_key is None:
        raise InputError(f"missing key 'input': a {kind.name} job needs an input file")
    if raw_input is not None and not isinstance(raw_input, str):
        raise InputError(f"key 'input': expected a path or a glob, got {raw_input!r}")
    inputs: list[str | None] = [None]
    if raw_input is not None:
        pattern = _relative_to(base, raw_input)
        if _GLOB_CHARS.search(raw_input):
            # Walked from base, so brackets in the jobs file's own folder name are not a pattern.
            matches = bounded_glob(raw_input, base)
            # A glob that matches nothing stays as it is: that job then fails, naming it.
            inputs = sorted(_relative_to(base, match) for match in matches) or [pattern]
        else:
            inputs = [pattern]
    config_file = _relative_to(base, job["config"]) if isinstance(job.get("config"), str) else job.get("config")
    if config_file is not None and not isinstance(config_file, str):
        raise InputError(f"key 'config': expected a path, got {config_file!r}")
    # As on the command line: a settings file without a preset starts from the defaults.
    preset = job.get("preset", None if config_file else kind.default_preset)
    if preset is not None and not isinstance(preset, str):
        raise InputError(f"key 'preset': expected a name, got {preset!r}")
    if "name" in job and not isinstance(job["name"], str):
        raise InputError(f"key 'name': expected a string, got {job['name']!r}")
    overrides = _overrides(kind, job)
    jobs = []
    for input_path in inputs:
        options = dict(overrides)
        if input_path is not None and kind.input_key is not None:
            options[kind.input_key] = input_path
        config = to_dict(kind.resolve(preset, config_file, options))
        jobs.append(_make_job(kind, index, job.get("name"), input_path, config, base, many=len(inputs) > 1))
    return jobs


def _overrides(kind: JobKind, job: Mapping[str, Any]) -> dict:
    options = {**_COMMON_KEYS, **kind.options}
    overrides: dict[str, Any] = {}
    for key, value in job.items():
        target = options.get(key)
        if target is None or key == "input":
            continue
        if key in _LIST_KEYS:
            value = _as_list(key, value)
        if key == "prompt" and kind.prompt_key == "prompt":
            if len(value) != 1:
                raise InputError(f"key 'prompt': a {kind.name} job takes one prompt, got {len(value)}")
            target, value = "prompt", value[0]
        overrides[target] = value
    overrides.update(job.get("set", {}))
    return overrides


def _is_file_value(key: str, value: str) -> bool:
    if key != "palette":
        return bool(value)
    # A palette is a list of colours or an image to take them from.
    return bool(value) and not value.startswith("#") and ("/" in value or Path(value).suffix.lower() in _IMAGE_SUFFIXES)


def _make_job(kind: JobKind, index: int, name: Any, input_path: str | None, config: dict, base: Path, many: bool) -> Job:
    identity_config = json.loads(json.dumps(config))
    identity_config.pop("device", None)
    identity_config.pop("progress", None)
    inputs: dict[str, Any] = {"input": file_digest(input_path) if input_path else None}
    for key in kind.file_keys:
        value = config.get(key)
        if isinstance(value, str) and _is_file_value(key, value):
            config[key] = _relative_to(base, value)
            inputs[key] = identity_config[key] = file_digest(config[key])
        elif isinstance(value, list):
            config[key] = [_relative_to(base, v) for v in value]
            inputs[key] = identity_config[key] = [file_digest(v) for v in config[key]]
    # CLIP specs enter the hash as written (relative folders stay relative to the jobs file).
    for key in ("clip", "judge"):
        if isinstance(config.get(key), list):
            config[key] = [_absolute_spec(base, spec) for spec in config[key]]
    if input_path is not None and kind.input_key is not None:
        identity_config.pop(kind.input_key, None)
    identity = {"version": HASH_VERSION, "kind": kind.name, "inputs": inputs, "config": identity_config}
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    seed = derive_seed(digest)
    config["seed"] = seed
    label = name if isinstance(name, str) and name else None
    stem = Path(input_path).stem if input_path else None
    if label is None:
        label = stem or _short(identity_config.get(kind.prompt_key))
    elif many and stem:
        label = f"{label}:{stem}"
    return Job(f"{kind.name}-{digest[:12]}", kind.name, label, index, input_path, config, seed, digest)


def _absolute_spec(base: Path, spec: str) -> str:
    match = _LOCAL_DIR.match(spec)
    if match is None:
        return spec
    return f"local-dir:{_relative_to(base, match['path'])}{match['weight'] or ''}"


def _short(prompt: Any, width: int = 32) -> str:
    text = prompt if isinstance(prompt, str) else " | ".join(prompt or [])
    return text if len(text) <= width else text[: width - 1] + "…"


def jobs_clip_specs(jobs: Sequence[Job]) -> list[str]:
    """Every CLIP spec the jobs use (training and judge), in first-use order: workers load them once."""
    specs: list[str] = []
    for job in jobs:
        for spec in [*job.config.get("clip", []), *job.config.get("judge", [])]:
            if spec not in specs:
                specs.append(spec)
    return specs
