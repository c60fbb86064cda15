"""Calling numba-compiled loops on a fresh install without waiting for numba.

numba compiles a function on its first call and caches the machine code on disk. On a fresh
install that cache is empty, and the backtester's fill loops take about ten seconds to compile,
while the same loops run a month of 5-minute bars as plain Python in a fraction of a second.
`call` runs the compiled function when numba's cache (or this process) already has it for these
argument types. On a cold cache it runs the function's plain-Python twin when its caller says that
is quicker than compiling for the data at hand, and starts a detached process that fills numba's
cache, so the next runs are compiled. The twin is the very same code, so both give the same numbers.

A front end can pass `announcing` a callback to say it is preparing (first run only) whenever a
cold cache is met; warm runs say nothing.
"""

from __future__ import annotations

import importlib
import os
import pickle
import subprocess
import sys
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

Choice = Literal["auto", "compiled", "plain"]

LOCK_SUFFIX = ".rulebot-warming"
"""Ends a file in numba's cache folder while a background process compiles one function into it
(so that only one process at a time does)."""
STALE_LOCK_SECONDS = 600.0
"""A lock older than this is left over from a warm-up that died; it no longer holds others off."""

_twins: dict[int, Callable[..., Any]] = {}
_started: set[tuple[int, Any]] = set()
_loaded: set[int] = set()
"""Functions run compiled in this process: called straight away (numba's own dispatch then
types the arguments, much faster than `call` could)."""
_announce: Callable[[], None] | None = None
_announced = False
_forced: Choice = "auto"


def call(function: Any, plain_seconds: float, compile_seconds: float, *args: Any) -> Any:
    """`function(*args)`, compiled when numba's cache has it, else whichever is quicker.

    `plain_seconds` is the caller's estimate of the plain-Python run for this data and
    `compile_seconds` of compiling `function`; both are measured on one machine, so only their
    ratio matters."""
    if not hasattr(function, "py_func"):  # numba is not installed: the function is plain
        return function(*args)
    if _forced != "auto":
        return (function if _forced == "compiled" else plain(function))(*args)
    if id(function) not in _loaded:
        signature = tuple(function.typeof_pyval(value) for value in args)  # ~2 ms: once
        if signature not in function.overloads and not _cached(function, signature):
            _say_preparing()
            if plain_seconds < compile_seconds:
                _warm_in_background(function, signature)
                return plain(function)(*args)
        _loaded.add(id(function))
    return function(*args)


@contextmanager
def announcing(say: Callable[[], None]) -> Iterator[None]:
    """Call `say` (once) when a run meets a cold cache inside this block."""
    global _announce, _announced
    _announce, _announced = say, False
    try:
        yield
    finally:
        _announce = None


@contextmanager
def forcing(path: Choice) -> Iterator[None]:
    """Run every `call` inside this block compiled (compiling on a cold cache) or plain, rather
    than choosing: for comparing the two, and for measuring them."""
    global _forced
    before, _forced = _forced, path
    try:
        yield
    finally:
        _forced = before


def use_plain(function: Any, twin: Callable[..., Any]) -> None:
    """Make `twin` the plain-Python twin of the compiled `function`: code that gives its results
    bit for bit, faster as plain Python than the function's own (tested as such by its caller)."""
    if hasattr(function, "py_func"):
        _twins[id(function)] = twin


def plain(function: Any) -> Callable[..., Any]:
    """The plain-Python twin of a numba-compiled function: its own code, with every compiled
    function it calls (directly or as `module.name`) swapped for that function's twin."""
    original = getattr(function, "py_func", None)
    if original is None:
        return function
    twin = _twins.get(id(function))
    if twin is not None:
        return twin
    names = dict(original.__globals__)
    twin = types.FunctionType(
        original.__code__, names, original.__name__, original.__defaults__, original.__closure__
    )
    _twins[id(function)] = twin  # before its callees, so that recursion ends
    for name in _global_names(original.__code__):
        value = names.get(name)
        if hasattr(value, "py_func"):
            names[name] = plain(value)
        elif isinstance(value, types.ModuleType) and _holds_compiled(value):
            names[name] = _PlainModule(value)
    return twin


class _PlainModule:
    """A module as plain code sees it: its compiled functions read as their twins."""

    def __init__(self, module: types.ModuleType) -> None:
        self._module = module

    def __getattr__(self, name: str) -> Any:
        value = plain(getattr(self._module, name))
        setattr(self, name, value)
        return value


def _holds_compiled(module: types.ModuleType) -> bool:
    return any(hasattr(value, "py_func") for value in vars(module).values())


def _global_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            names |= _global_names(constant)
    return names


def _cached(function: Any, signature: tuple[Any, ...]) -> bool:
    """Whether numba's disk cache holds `function` compiled for `signature` on this machine."""
    try:  # numba's own cache index, read as numba reads it before it compiles
        cache = function._cache
        key = cache._index_key(signature, function.targetctx.codegen())
        return key in cache._cache_file._load_index()
    except Exception:  # an unreadable index or a numba without these internals:
        return True  # leave it to numba, as if this module were not here


def _say_preparing() -> None:
    global _announced
    if _announce is not None and not _announced:
        _announced = True
        _announce()


def _warm_in_background(function: Any, signature: tuple[Any, ...]) -> None:
    """Start a detached process that compiles `function` for `signature` into numba's cache
    (once per process, and not while another one is filling the same cache folder)."""
    if (id(function), signature) in _started:
        return
    _started.add((id(function), signature))
    try:
        original = function.py_func
        folder = Path(function._cache._cache_path)
        folder.mkdir(parents=True, exist_ok=True)
        lock = folder / f"{original.__module__}.{original.__qualname__}{LOCK_SUFFIX}"
        if not _take(lock):
            return
        order = (original.__module__, original.__qualname__, function.targetoptions, signature)
        process = subprocess.Popen(
            [sys.executable, "-m", "rulebot.compiled", str(lock)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        assert process.stdin is not None
        process.stdin.write(pickle.dumps(order))
        process.stdin.close()
    except (OSError, AttributeError, pickle.PicklingError):
        return  # no warm-up: the next run compiles in the foreground instead


def _take(lock: Path) -> bool:
    """Create `lock` unless another live warm-up holds it (one older than
    `STALE_LOCK_SECONDS` is taken over)."""
    try:
        os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        if time.time() - lock.stat().st_mtime < STALE_LOCK_SECONDS:
            return False
        lock.touch()
    return True


def _warm(lock: Path) -> None:
    """The background process: compile the function it is sent, which saves it to the cache
    (at a low priority, so that the backtest the user is waiting for keeps the processor)."""
    os.nice(10)
    import numba

    module, name, options, signature = pickle.loads(sys.stdin.buffer.read())
    try:
        found = getattr(importlib.import_module(module), name)
        if getattr(found, "targetoptions", None) != options:
            flags = {key: value for key, value in options.items() if key != "nopython"}
            found = numba.njit(cache=True, **flags)(getattr(found, "py_func", found))
        found.compile(signature)
    finally:
        lock.unlink(missing_ok=True)


if __name__ == "__main__":
    _warm(Path(sys.argv[1]))
