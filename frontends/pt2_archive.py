"""A ``torch.export`` archive (``.pt2``) read as data: checked before anything from torch touches it.

``torch.export.load`` trusts the file. It unpickles ``opaque_obj_*`` constants with
``pickle.loads``, extracts the files under ``data/aotinductor/`` to the paths their names give and
``dlopen``s the libraries among them, evaluates shape expressions with sympify and executes the
program's ``guards_code`` and the Python it generates from the program's names. So bridgec reads
the archive itself first:

1. the zip: one member after the other from the first byte to the central directory, stored (not
   compressed), with the same name in both headers, so torch's zip reader and Python's cannot see
   different files; member names are plain relative paths (no ``..``, ``/`` first, backslash, link,
   directory or duplicate) under one root folder;
2. the members: only what ``torch.export.save`` writes for a program (``archive_format``,
   ``archive_version``, ``byteorder``, ``.data/*``, ``models/model.json``, the weights and constants
   configs and their raw ``weight_N``/``tensor_N`` records, ``data/sample_inputs/model.pt``,
   ``extra/*``). AOTInductor payloads, script/opaque object constants and anything else are refused,
   also with ``--trust-pickle``: they are native code and Python objects, not pickled tensors, and
   the exporter could not convert them anyway. Pickled tensors (``use_pickle``) need ``--trust-pickle``;
3. the program and the configs, string by string (:mod:`bridgec.frontends.pt2_program`); a raw
   weight or constant must fit the record holding it, so a claim of more bytes than the archive
   holds is refused before torch allocates it.

:func:`loading` then runs ``torch.export.load`` with sympify replaced by bridgec's grammar
(:mod:`bridgec.frontends.pt2_expr`) and pickle, the TorchScript object unpickler and the AOTInductor
loader replaced by refusals, in case a check above ever misses what they would be handed (and the
type hints of torch's schema classes worked out once: :func:`memoised_hints`).
"""

from __future__ import annotations

import contextlib
import json
import re
import stat
import struct
import types
import typing
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bridgec.core.errors import UsageError
from bridgec.core.sizes import too_big
from bridgec.frontends import pt2_expr, pt2_program, pt2_strings

SAVE_AGAIN = "export and save the model again with torch.export.save (bridgec reads only what it writes)"
TRUST = "pass --trust-pickle if you trust where the file came from"

# members torch.export.save writes for one program, relative to the archive's root folder
FIXED = {
    "archive_format": 16,
    "archive_version": 16,
    "byteorder": 16,
    ".data/version": 16,
    ".data/serialization_id": 256,
    "models/model.json": 256 << 20,
    "data/weights/model_weights_config.json": 1 << 28,
    "data/constants/model_constants_config.json": 1 << 28,
    "data/sample_inputs/model.pt": None,  # torch.load checks its records against its own claims
}
REQUIRED = (
    "archive_format",
    "archive_version",
    "models/model.json",
    "data/weights/model_weights_config.json",
    "data/constants/model_constants_config.json",
    "data/sample_inputs/model.pt",
)
WEIGHT = re.compile(r"data/weights/(weight_\d{1,9})")
CONSTANT = re.compile(r"data/constants/(tensor_\d{1,9})")
EXTRA = re.compile(r"extra/[A-Za-z0-9_.\-/]{1,256}")
MAX_EXTRA = 64 << 20
_NAME = re.compile(r"[A-Za-z0-9_.\-/]{1,512}")
# torch.export.save names the root folder after the file, whatever it starts with (".x.pt2.tmp" saved,
# then renamed: ".x.pt2"; "-x"), up to a file name's 255 bytes; "." and ".." are no folder of their
# own (refused with the '..' rule first), nor, on Windows, "..." and longer runs of dots
_ROOT = re.compile(r"(?!\.+\Z)[A-Za-z0-9_.\-]{1,255}")
_LOCAL = struct.Struct("<4sHHHHHIIIHH")  # a zip local file header


class _Bad(Exception):
    def __init__(self, member: str, why: str, fix: str = SAVE_AGAIN) -> None:
        super().__init__(member, why, fix)
        self.member, self.why, self.fix = member, why, fix


def check(path: Path, trust_pickle: bool = False) -> dict[str, list[str]]:
    """Refuse ``path`` (a ``UsageError`` naming the member, what is wrong and what to do) unless it is
    a program archive as ``torch.export.save`` writes it and torch can read it without running code.
    Returns the field names the program lists for its named tuples (what :func:`loading` needs to
    read an output named tuple this process has not registered)."""
    path = Path(path)
    try:
        with open(path, "rb") as handle, zipfile.ZipFile(handle) as archive:
            return _check(handle, archive, trust_pickle)
    except _Bad as bad:
        why = " ".join(bad.why.split())  # a message quoting torch or sympy stays one line
        where = (
            f"member {bad.member!r} of the torch.export archive" if bad.member else "a torch.export archive"
        )
        raise UsageError(f"{path}: {where}: {why}; {bad.fix}") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, struct.error) as exc:
        cause = " ".join(str(exc).split())[:120]
        raise UsageError(
            f"{path}: a damaged torch.export archive ({type(exc).__name__}: {cause}); copy or save the model again"
        ) from None


def _check(handle, archive: zipfile.ZipFile, trust_pickle: bool) -> dict[str, list[str]]:
    infos = archive.infolist()
    if not infos:
        raise _Bad("", "an empty archive")
    root = _names(infos)
    _layout(handle, archive, infos)
    members = {info.filename[len(root) + 1 :]: info for info in infos}
    for relative, info in members.items():
        _kind(relative, info)
    for relative in REQUIRED:
        if relative not in members:
            raise _Bad(f"{root}/{relative}", "missing: torch.export.save always writes it")

    def read(relative: str) -> bytes:
        info = members[relative]
        limit = FIXED.get(relative, MAX_EXTRA)
        if limit is not None and info.file_size > limit:
            raise _Bad(info.filename, f"{info.file_size:,} bytes, more than bridgec reads there ({limit:,})")
        return archive.read(info)

    for relative, expected in (
        ("archive_format", (b"pt2",)),
        ("archive_version", (b"0",)),
        ("byteorder", (b"little",)),
    ):
        if relative in members and read(relative) not in expected:
            raise _Bad(f"{root}/{relative}", f"holds {read(relative)[:16]!r}, not {expected[0]!r}")
    for relative in members:
        if EXTRA.fullmatch(relative):
            try:
                read(relative).decode("utf-8")
            except UnicodeDecodeError:
                raise _Bad(
                    f"{root}/{relative}", "an extra file that is not UTF-8 text (torch reads it as text)"
                ) from None

    program = _json(root, "models/model.json", read)
    try:
        pt2_program.check_program(program)
    except pt2_program.Refused as exc:
        raise _Bad(f"{root}/models/model.json", str(exc)) from None
    for relative, pattern, kind in (
        ("data/weights/model_weights_config.json", WEIGHT, "weight"),
        ("data/constants/model_constants_config.json", CONSTANT, "constant"),
    ):
        try:
            with memoised_hints():
                config = pt2_program.check_payload_config(_json(root, relative, read))
        except pt2_program.Refused as exc:
            raise _Bad(f"{root}/{relative}", str(exc)) from None
        _payloads(root, relative, config, pattern, kind, members, trust_pickle)
    return pt2_program.namedtuple_fields(program)


def _names(infos: list[zipfile.ZipInfo]) -> str:
    """The root folder all members share, after every name passed the path rules."""
    seen: set[str] = set()
    folded: set[str] = set()
    root = infos[0].orig_filename.split("/")[0]
    for info in infos:
        name = info.orig_filename
        if name != info.filename or "\x00" in name:
            raise _Bad(name, "a member name with a NUL byte")
        if name.startswith("/") or re.match(r"[A-Za-z]:", name):
            raise _Bad(name, "an absolute path (it would be extracted outside any folder)")
        if "\\" in name:
            raise _Bad(name, "a backslash in a member name (a path separator on Windows)")
        parts = name.split("/")
        if ".." in parts or "." in parts:
            raise _Bad(name, "a path with '..' or '.' in it (it would be extracted outside its folder)")
        if "" in parts:
            raise _Bad(name, "a directory entry or an empty path component")
        if not _NAME.fullmatch(name):
            raise _Bad(name, "characters torch.export.save never writes in a member name")
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise _Bad(name, "a symbolic link")
        if stat.S_IFMT(mode) not in (0, stat.S_IFREG) or info.external_attr & 0x10:
            raise _Bad(name, "not a plain file (a directory, device or link entry)")
        if name in seen or name.casefold() in folded:
            raise _Bad(name, "a second member of the same name (readers disagree on which one counts)")
        seen.add(name)
        folded.add(name.casefold())
        if len(parts) < 2 or parts[0] != root:
            raise _Bad(name, f"outside the archive's root folder {root!r}")
        if not _ROOT.fullmatch(root):
            raise _Bad(name, f"a root folder name torch.export.save does not write ({root!r})")
    return root


def _layout(handle, archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo]) -> None:
    """Members back to back from offset 0, the central directory right after the last, the
    end-of-directory record closing the file: one reading of the bytes for every zip reader."""
    handle.seek(0, 2)
    size = handle.tell()
    handle.seek(size - 22)
    end = handle.read(22)
    if archive.comment or len(end) != 22 or end[:4] != b"PK\x05\x06" or end[20:22] != b"\x00\x00":
        raise _Bad("", "a zip with a comment or data after its end record")
    offset = 0
    for info in sorted(infos, key=lambda i: i.header_offset):
        if info.header_offset != offset:
            raise _Bad(info.filename, "data between or under the members (overlapping or hidden entries)")
        handle.seek(offset)
        header = handle.read(_LOCAL.size)
        if len(header) != _LOCAL.size:
            raise _Bad(info.filename, "a truncated archive")
        signature, _, flags, method, _, _, _, csize, usize, name_length, extra_length = _LOCAL.unpack(header)
        if signature != b"PK\x03\x04":
            raise _Bad(info.filename, "no zip header where the directory says the member starts")
        if flags & 0x1 or flags & 0x40:
            raise _Bad(info.filename, "an encrypted member")
        if method != 0 or info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
            raise _Bad(info.filename, "a compressed member (torch.export.save stores members uncompressed)")
        if handle.read(name_length) != info.orig_filename.encode("ascii"):
            raise _Bad(info.filename, "a different name in its own header than in the directory")
        start = offset + _LOCAL.size + name_length + extra_length
        offset = start + info.file_size
        if offset > archive.start_dir:
            raise _Bad(info.filename, f"claims {info.file_size:,} bytes, more than the archive holds")
        if flags & 0x8:  # sizes in a descriptor after the data (torch writes them so)
            handle.seek(offset)
            descriptor = handle.read(24)
            skip = 4 if descriptor[:4] == b"PK\x07\x08" else 0
            body = descriptor[skip:]
            if body[4:12] == struct.pack("<II", info.file_size, info.file_size):
                offset += skip + 12
            elif body[4:20] == struct.pack("<QQ", info.file_size, info.file_size):
                offset += skip + 20
            else:
                raise _Bad(info.filename, "a data descriptor that disagrees with the directory")
        elif csize != 0xFFFFFFFF and (csize, usize) != (info.file_size, info.file_size):
            raise _Bad(info.filename, "sizes in its own header that disagree with the directory")
    if offset != archive.start_dir:
        raise _Bad("", "data between the last member and the zip directory")


def _kind(relative: str, info: zipfile.ZipInfo) -> None:
    name = info.filename
    if (
        relative in FIXED
        or WEIGHT.fullmatch(relative)
        or CONSTANT.fullmatch(relative)
        or EXTRA.fullmatch(relative)
    ):
        return
    if relative.startswith("data/aotinductor/"):
        raise _Bad(
            name,
            "an AOTInductor payload (torch would extract it and load the compiled library in it, native "
            "code); bridgec never loads compiled code, not with --trust-pickle either",
            "save the exported program alone with torch.export.save",
        )
    if relative.startswith("data/constants/opaque_obj_"):
        raise _Bad(
            name,
            "an opaque object constant, which torch.export.load rebuilds with pickle.loads (running code "
            "from the file); bridgec refuses it, also with --trust-pickle, and the exporter could not "
            "convert such an object",
            "export a model whose constants are tensors",
        )
    if relative.startswith("data/constants/custom_obj_"):
        raise _Bad(
            name,
            "a TorchScript object constant (torchbind), rebuilt by running its class's code; bridgec "
            "refuses it, also with --trust-pickle, and the exporter could not convert it",
            "export a model whose constants are tensors",
        )
    if relative.startswith("models/"):
        raise _Bad(name, "a second program (bridgec reads the one torch.export.save names 'model')")
    if relative in ("data/weights/model.pt", "data/constants/model.pt"):
        raise _Bad(name, "weights in the old pickled layout of torch 2.6 and before")
    raise _Bad(name, "a member torch.export.save does not write for a program")


def _json(root: str, relative: str, read) -> Any:
    try:
        return json.loads(read(relative).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _Bad(f"{root}/{relative}", f"not JSON ({type(exc).__name__})") from None


def _payloads(root, relative, config, pattern, kind: str, members: dict, trust_pickle: bool) -> None:
    """Each weight or constant of a config: a raw record in the archive that holds its whole extent
    (or a pickled tensor, with --trust-pickle)."""
    from torch._export.serde.serialize import _SERIALIZE_TO_TORCH_DTYPE

    folder = relative.rsplit("/", 1)[0]
    units: dict[str, tuple[int, Any]] = {}  # record -> (elements it holds, dtype torch reads it as)
    for fqn, meta in config.config.items():
        record = f"{folder}/{meta.path_name}"
        shown = f"{root}/{record}"
        if meta.path_name.startswith(("opaque_obj_", "custom_obj_")):
            _kind(record, members.get(record, zipfile.ZipInfo(shown)))
        if not pattern.fullmatch(record):
            raise _Bad(f"{root}/{relative}", f"{kind} {fqn!r} names {meta.path_name!r}, not a {kind} record")
        if record not in members:
            raise _Bad(shown, f"missing: the {kind} {fqn!r} is stored there")
        if meta.use_pickle:
            if not trust_pickle:
                raise _Bad(
                    shown,
                    f"the {kind} {fqn!r} is a pickled tensor, which torch unpickles in full (running code "
                    "from the file)",
                    TRUST,
                )
            continue
        tensor = meta.tensor_meta
        if tensor is None:
            raise _Bad(f"{root}/{relative}", f"{kind} {fqn!r} has neither a pickle nor a tensor description")
        dims = [tensor.sizes, tensor.strides, [tensor.storage_offset]]
        if any(d.type != "as_int" or d.value < 0 for group in dims for d in group):
            raise _Bad(f"{root}/{relative}", f"{kind} {fqn!r} has symbolic or negative sizes")
        dtype = _SERIALIZE_TO_TORCH_DTYPE.get(tensor.dtype)
        if dtype is None or len(tensor.sizes) != len(tensor.strides):
            raise _Bad(f"{root}/{relative}", f"{kind} {fqn!r} has no dtype torch knows or mismatched strides")
        sizes = [d.value for d in tensor.sizes]
        why = too_big(sizes)
        if why:
            raise _Bad(shown, f"the {kind} {fqn!r} claims shape {tuple(sizes)}: {why}")
        nbytes = members[record].file_size
        if record not in units:  # torch reads a record once, as the dtype of its first tensor
            size = dtype.itemsize
            if nbytes % size:
                raise _Bad(shown, f"{nbytes:,} bytes, not a whole number of {dtype} elements")
            units[record] = (nbytes // size, dtype)
        held, as_dtype = units[record]
        offset = tensor.storage_offset.value
        needed = (
            0
            if 0 in sizes
            else offset + 1 + sum((n - 1) * s.value for n, s in zip(sizes, tensor.strides, strict=True))
        )
        if needed > held:
            raise _Bad(
                shown,
                f"holds {nbytes:,} bytes, but the {kind} {fqn!r} (shape {tuple(sizes)}) needs "
                f"{needed * as_dtype.itemsize:,}: the archive is truncated or crafted",
                "copy or save the model again",
            )


# --- loading -------------------------------------------------------------------------------------------


class _StandIn(types.ModuleType):
    """A module as one of torch's modules sees it, with a few of its functions replaced."""

    def __init__(self, real: types.ModuleType, **replaced: Any) -> None:
        super().__init__(real.__name__)
        self.__dict__.update(replaced)
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class Refused(Exception):
    """torch's loader was about to run something from the file (a check above missed it)."""


def _typing_stand_in() -> types.ModuleType:
    """``typing`` as torch's deserializer sees it in :func:`memoised_hints`: a copy (torch reads
    ``typing.get_origin`` and the like for every value, too often to go through ``_StandIn``)."""
    from torch._export.serde import schema

    namespace = vars(schema)

    def get_type_hints(obj: Any, globalns: Any = None, localns: Any = None, include_extras: bool = False):
        if globalns is namespace and localns is None and not include_extras and isinstance(obj, type):
            return pt2_program.schema_hints(obj)
        return typing.get_type_hints(obj, globalns, localns, include_extras)

    stand_in = types.ModuleType(typing.__name__)
    stand_in.__dict__.update(vars(typing), get_type_hints=get_type_hints)
    return stand_in


@contextlib.contextmanager
def memoised_hints() -> Iterator[None]:
    """Inside, torch's deserializer reads the type hints of its schema classes from
    ``pt2_program.schema_hints``: it asks ``typing.get_type_hints`` again for every object it
    builds from the JSON, which was half the time ``torch.export.load`` took (what it builds is the
    same: the hints of a dataclass never change)."""
    from torch._export.serde import serialize

    saved = serialize.typing
    serialize.typing = _typing_stand_in()
    try:
        yield
    finally:
        serialize.typing = saved


@contextlib.contextmanager
def loading(refusals: list[str], namedtuples: dict[str, list[str]] | None = None) -> Iterator[None]:
    """Run ``torch.export.load`` inside: shape expressions are parsed by bridgec's grammar, and what
    would unpickle objects or load AOTInductor code raises :class:`Refused` instead. What was refused
    is appended to ``refusals`` (torch wraps the exception in its own). An output class this process
    has not registered (a ModelOutput; a named tuple, whose fields ``namedtuples`` gives, as
    :func:`check` returns them) is read as a dict of its fields: the outputs keep their names and
    nothing the archive names is imported."""
    import torch
    from torch._export.serde import serialize
    from torch.export.pt2_archive import _package

    def sympify(value, *args, **kwargs):
        try:
            return pt2_expr.sympify(value, *args, **kwargs)
        except pt2_expr.ExprError as exc:
            why = " ".join(str(exc).split())
            refusals.append(f"symbolic shape expression {str(value)[:80]!r} is not one bridgec reads ({why})")
            raise

    def refuse(what: str):
        def refused(*args, **kwargs):
            refusals.append(what)
            raise Refused(what)

        return refused

    def treespec_loads(value: str):
        return original_treespec_loads(pt2_strings.readable_treespec(value, namedtuples or {}))

    original_treespec_loads = serialize.treespec_loads
    replaced = [
        (serialize, "sympy", _StandIn(serialize.sympy, sympify=sympify)),
        (serialize, "typing", _typing_stand_in()),
        (serialize, "treespec_loads", treespec_loads),
        (_package, "pickle", _StandIn(_package.pickle, loads=refuse("an object constant to unpickle"))),
        (_package, "_load_aoti", refuse("an AOTInductor library to load")),
        (torch._C, "_pickle_load_obj", refuse("a TorchScript object constant to rebuild")),
    ]
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in replaced]
    try:
        for owner, name, value in replaced:
            setattr(owner, name, value)
        yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)


__all__ = ["SAVE_AGAIN", "check", "loading", "memoised_hints"]
