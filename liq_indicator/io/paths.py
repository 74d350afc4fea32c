"""Every path a command is given, checked in one place: each way it can be wrong is one InputError.

Inputs: :func:`input_file` / :func:`input_dir` check that the path exists, is the right kind (a
*regular* file: a named pipe or a device is refused before it is opened, so nothing blocks) and can
be read; the parse then runs inside :func:`reading`, which turns the parsers' own errors (pyarrow,
``UnicodeDecodeError``, ``json``, ``zipfile``, pandas' CSV errors, ``OSError``) into an InputError
naming the path. Zip members are read only through :func:`read_zip_member` (no encrypted members,
a cap on the uncompressed size enforced while reading, since a zip's headers can lie).

Outputs: :func:`output_dir` / :func:`output_file` check, before any work starts, that the target is
not a folder (or a file), that the folder exists (or can be created) and that a file can be created
in it; the write itself runs inside :func:`writing`, which names the path if it still fails (a full
disk, say).

Like pandas and pyarrow, nothing here guesses: a path that is not what was asked for is an error
whose message says what to pass instead.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from liq_indicator.errors import InputError

__all__ = [
    "input_file",
    "input_dir",
    "is_present",
    "is_folder",
    "reading",
    "read_text",
    "read_zip_member",
    "output_dir",
    "output_file",
    "writing",
]

_KINDS = (
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
)


def _name(path: str | Path) -> str:
    return repr(str(path))


def _stat(path: Path, what: str, shown: str | Path) -> os.stat_result | None:
    """``os.stat`` of ``path``; None when it does not exist, an InputError when it cannot be looked up."""
    try:
        return path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except PermissionError:
        raise InputError(
            f"{what} {_name(shown)} cannot be reached: permission denied on a folder "
            "above it; make the folders readable (chmod +rx) or run as their owner"
        ) from None
    except OSError as exc:
        raise InputError(
            f"{what} {_name(shown)} cannot be looked up ({exc.strerror or exc})"
        ) from None


def is_present(path: str | Path, what: str = "file") -> bool:
    """Whether ``path`` exists; an InputError (not False) when a folder above it cannot be searched."""
    return _stat(Path(path), what, path) is not None


def is_folder(path: str | Path, what: str = "folder") -> bool:
    """Whether ``path`` is an existing folder; an InputError when a folder above it cannot be searched."""
    st = _stat(Path(path), what, path)
    return st is not None and stat.S_ISDIR(st.st_mode)


def input_file(path: str | Path, what: str = "file") -> Path:
    """``path`` as an existing, readable regular file.

    Raises:
        InputError: when it does not exist, is a folder, a named pipe, socket or device (refused
            before opening it, which could block forever), or cannot be read.
    """
    p = Path(path).expanduser()
    st = _stat(p, what, path)
    if st is None:
        raise InputError(f"{what} {_name(path)} does not exist")
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{what} {_name(path)} is a folder; pass a file")
    if not stat.S_ISREG(st.st_mode):
        kind = next((k for test, k in _KINDS if test(st.st_mode)), "not a regular file")
        raise InputError(f"{what} {_name(path)} is {kind}, not a regular file; pass a file on disk")
    try:
        os.close(os.open(p, os.O_RDONLY))
    except OSError as exc:
        raise _read_error(exc, what, path) from None
    return p


def input_dir(path: str | Path, what: str = "folder") -> Path:
    """``path`` as an existing folder whose entries can be listed and opened.

    Raises:
        InputError: when it does not exist, is not a folder, or cannot be listed or searched.
    """
    p = Path(path).expanduser()
    st = _stat(p, what, path)
    if st is None:
        raise InputError(f"{what} {_name(path)} does not exist")
    if not stat.S_ISDIR(st.st_mode):
        raise InputError(f"{what} {_name(path)} is not a directory")
    try:
        with os.scandir(p) as entries:
            next(entries, None)
        (p / ".").stat()  # searching the folder (its x bit) is what opening its files needs
    except OSError as exc:
        raise _read_error(exc, what, path) from None
    return p.resolve()


def _read_error(exc: BaseException, what: str, path: str | Path) -> InputError:
    if isinstance(exc, PermissionError):
        return InputError(
            f"{what} {_name(path)} cannot be read: permission denied; make it readable "
            "(chmod +r, and +x for a folder) or run as its owner"
        )
    if isinstance(exc, IsADirectoryError):
        return InputError(f"{what} {_name(path)} is a folder; pass a file")
    if isinstance(exc, OSError):
        return InputError(f"{what} {_name(path)} cannot be read ({exc.strerror or exc})")
    if isinstance(exc, UnicodeDecodeError):
        return InputError(
            f"{what} {_name(path)} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} "
            f"at offset {exc.start}); save it as UTF-8"
        )
    if isinstance(exc, zipfile.BadZipFile | EOFError):
        return InputError(
            f"{what} {_name(path)} is not a valid zip archive ({exc}); download it again"
        )
    text = str(exc).strip().splitlines()
    detail = text[0] if text else type(exc).__name__
    if _is_arrow_error(exc):
        return InputError(
            f"{what} {_name(path)} is not a readable feather file, truncated or corrupt "
            f"({detail}); download or write it again"
        )
    return InputError(f"{what} {_name(path)} cannot be parsed ({detail})")


def _is_arrow_error(exc: BaseException) -> bool:
    import pyarrow

    return isinstance(exc, pyarrow.ArrowException)


def _parse_errors() -> tuple[type[BaseException], ...]:
    import json

    import pandas as pd
    import pyarrow

    return (
        OSError,
        UnicodeDecodeError,
        json.JSONDecodeError,
        zipfile.BadZipFile,
        EOFError,
        pyarrow.ArrowException,
        pd.errors.ParserError,
        pd.errors.EmptyDataError,
    )


@contextmanager
def reading(path: str | Path, what: str = "file") -> Iterator[None]:
    """Run a parse of ``path``; its parser's errors leave as one InputError naming the path."""
    try:
        yield
    except _parse_errors() as exc:
        raise _read_error(exc, what, path) from None


def read_text(path: str | Path, what: str = "file") -> str:
    """The UTF-8 text of a readable regular file (see :func:`input_file`)."""
    p = input_file(path, what)
    with reading(path, what):
        return p.read_text(encoding="utf-8")


def read_zip_member(zf: zipfile.ZipFile, name: str, source: str | Path, *, limit: int) -> bytes:
    """The bytes of member ``name`` of ``zf`` (the archive at ``source``), at most ``limit`` of them.

    The size in the member's header is checked first, and at most ``limit + 1`` bytes are
    inflated whatever the header says (zipfile also stops at the declared size and then fails the
    CRC check, which becomes an InputError here; the cap does not rely on that).

    Raises:
        InputError: for an encrypted member, one larger than ``limit``, an unsupported compression
            method or corrupt data.
    """
    info = zf.getinfo(name)
    where = f"{source}:{name}"
    if info.flag_bits & 0x1:
        raise InputError(f"zip member {where!r} is encrypted; pass an archive without a password")
    too_big = (
        f"zip member {where!r} inflates to more than {limit / 2**20:g} MiB; "
        "this is not the expected file (extract and check it, or pass the right archive)"
    )
    if info.file_size > limit:
        raise InputError(too_big)
    try:
        with zf.open(info) as fh:
            data = fh.read(limit + 1)
    except NotImplementedError as exc:
        raise InputError(
            f"zip member {where!r} uses an unsupported compression ({exc}); re-zip it with deflate"
        ) from None
    except (
        zipfile.BadZipFile,
        EOFError,
        OSError,
        ValueError,
    ) as exc:  # ValueError: zlib/lzma errors
        raise InputError(
            f"zip member {where!r} is corrupt ({exc}); download the archive again"
        ) from None
    if len(data) > limit:
        raise InputError(too_big)
    return data


# ------------------------------------------------------------------------------------------------
# outputs


def _probe_writable(folder: Path) -> str | None:
    """None when a file can be created in ``folder``, else the reason it cannot."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        return (
            "on a read-only file system"
            if exc.errno == errno.EROFS
            else "permission denied"
            if isinstance(exc, PermissionError)
            else exc.strerror or str(exc)
        )
    return None


def _check_folder(p: Path, label: str, missing_ok: int | None, label_is_p: bool) -> None:
    """Whether ``p`` is, or can be created as, a writable folder, creating at most ``missing_ok``
    missing levels (None: any). ``label`` names what is checked in the messages (``"plot folder
    '/x/plot'"``: ``p`` itself, ``label_is_p``; or the file to be written in ``p``).
    """
    for i, q in enumerate((p, *p.parents)):
        st = _stat(q, label, q)
        where = "it" if i == 0 and label_is_p else f"folder {_name(q)}"
        if st is None:
            if missing_ok is not None and i >= missing_ok:
                raise InputError(f"{label}: folder {_name(q)} does not exist; create it first")
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise InputError(f"{label}: {where} is a file, not a folder; choose another path")
        reason = _probe_writable(q)
        if reason is not None:
            raise InputError(
                f"{label} cannot be written: {where} is not writable ({reason}); "
                "choose a writable folder"
            )
        return
    raise AssertionError("unreachable: the file system root exists")  # pragma: no cover


def output_dir(path: str | Path, what: str = "output folder", *, parents: bool = True) -> Path:
    """Check that ``path`` is, or can be created as, a writable folder; create nothing.

    Args:
        path: the folder.
        what: what it is (an option name such as ``--datadir``), for messages.
        parents: whether the missing folders above ``path`` may be created too; when False its
            parent must exist.

    Raises:
        InputError: when ``path`` or a folder above it is a file, the parent is missing (with
            ``parents=False``), or the nearest existing folder does not accept new files.
    """
    p = Path(path).expanduser()
    _check_folder(p, f"{what} {_name(path)}", None if parents else 1, label_is_p=True)
    return p


def output_file(
    path: str | Path, what: str = "output", *, suffixes: tuple[str, ...] = (), parents: bool = False
) -> Path:
    """Check that ``path`` can be written as a file (its folder exists or may be created, accepts
    new files, and ``path`` is not a folder or a pipe); create nothing.

    Raises:
        InputError: naming ``path`` and what to pass instead.
    """
    p = Path(path).expanduser()
    st = _stat(p, what, path)
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise InputError(f"{what} {_name(path)} is a folder; name the file to write")
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise InputError(
            f"{what} {_name(path)} exists and is not a regular file; choose another path"
        )
    if suffixes and p.suffix not in suffixes:
        raise InputError(f"{what} {_name(path)} must end in {', '.join(suffixes)}")
    _check_folder(p.parent, f"{what} {_name(path)}", None if parents else 0, label_is_p=False)
    if st is not None:
        try:
            os.close(os.open(p, os.O_WRONLY))  # no O_TRUNC: the file is left as it is
        except OSError as exc:
            raise InputError(
                f"{what} {_name(path)} exists and cannot be overwritten "
                f"({exc.strerror or exc}); choose another path"
            ) from None
    return p


@contextmanager
def writing(path: str | Path, what: str = "output") -> Iterator[None]:
    """Run a write of ``path``; an OSError (permission, full disk, read-only) leaves as an InputError."""
    try:
        yield
    except OSError as exc:
        raise InputError(
            f"cannot write {what} {_name(path)} ({exc.strerror or exc}); choose a "
            "writable folder with free space"
        ) from None
