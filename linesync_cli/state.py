"""Owner-only state at rest: the state dir is 0700 and every file in it 0600, whatever the umask.

The link index says which LINE user is which Klaviyo profile; the ledger, rejects and
unlinked lists hold LINE user IDs. Nothing here may be readable by another local user.

SQLite creates its `-wal`, `-shm` and `-journal` files with the mode of the database
file (unix VFS, `findCreateFileMode`), so creating the database file 0600 before
`sqlite3.connect` is enough for the whole family (tests/test_state_modes.py checks it).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def ensure_dir(path: Path) -> Path:
    """Create `path` (and missing parents) 0700. An existing directory is left as it is:
    `doctor` and `config show` say when it is open to others, with the chmod that fixes it."""
    path = Path(path)
    if path.is_dir():
        return path
    missing = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    path.mkdir(parents=True, exist_ok=True)
    for created in missing:  # only the directories we made; never a parent we did not create
        try:
            os.chmod(created, DIR_MODE)
        except OSError:
            pass
    return path


def owner_only_file(path: Path) -> Path:
    """Make sure `path` exists and is 0600 (created so, or tightened if an older version left it 0644).

    Call before `sqlite3.connect(path)` or before writing: the file never exists with a wider mode.
    """
    path = Path(path)
    ensure_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, FILE_MODE)
    except OSError:  # not ours (another uid on a shared volume): doctor reports the mode
        pass
    finally:
        os.close(fd)
    return path


def open_owner_only(path: Path, mode: str = "w", **kwargs):
    """`open(path, mode)` for a state file that is written (truncated) or appended, created 0600."""
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
    flags |= os.O_APPEND if "a" in mode else os.O_TRUNC
    path = Path(path)
    ensure_dir(path.parent)
    fd = os.open(path, flags, FILE_MODE)
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, FILE_MODE)
    except OSError:
        pass
    return open(fd, mode, **kwargs)  # noqa: SIM115 - the caller closes it


def open_to_others(path: Path) -> str | None:
    """'group', 'others' or 'group and others' when `path` can be read (or listed) by them; else None."""
    try:
        mode = Path(path).stat().st_mode
    except OSError:
        return None
    group = bool(mode & (stat.S_IRGRP | stat.S_IWGRP | stat.S_IXGRP))
    others = bool(mode & (stat.S_IROTH | stat.S_IWOTH | stat.S_IXOTH))
    if group and others:
        return "group and others"
    return "group" if group else "others" if others else None


def chmod_fix(path: Path) -> str:
    """The command that makes `path` owner-only."""
    import shlex

    return f"chmod {'700' if Path(path).is_dir() else '600'} {shlex.quote(str(path))}"


def permission_warning(path: Path, what: str) -> str | None:
    """One line for `doctor` / `config show` when `what` at `path` is open to others; else None."""
    who = open_to_others(path)
    if who is None:
        return None
    return f"{what} {path} is readable by {who}: run `{chmod_fix(path)}`"
