"""A one-shot verb ends without the interpreter's module teardown (main._end_one_shot), and loses nothing by
it: the exit code, everything written to stdout and stderr and the
atexit handlers (logging's flush, the embedded server's cleanup) are as with a normal exit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# main.py run as a script, with an atexit handler registered first, as a library's would be.
RUN_MAIN = ("import atexit, runpy, sys; atexit.register(lambda: print('atexit handler ran', file=sys.stderr)); "
            "sys.argv = ['main.py', *sys.argv[1:]]; runpy.run_path('main.py', run_name='__main__')")


def _main(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", RUN_MAIN, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=env)


def test_a_verb_keeps_its_output_exit_code_and_atexit_handlers() -> None:
    done = _main("config", "show")
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("DATABASE_URL=") and len(lines) > 50  # every setting, one line each
    assert done.stderr.strip().endswith("atexit handler ran")


def test_a_failing_verb_keeps_its_exit_code_and_message(tmp_path: Path) -> None:
    done = _main("replay", "--data", str(tmp_path / "missing.csv"))
    assert done.returncode == 2
    assert "bottrader replay:" in done.stderr and "missing.csv" in done.stderr
    assert done.stderr.strip().endswith("atexit handler ran")


def test_a_thread_still_working_is_waited_for() -> None:
    """A non-daemon thread still running when the verb returns (a notification being sent) is waited for,
    as by a normal exit: the fast end is taken only by the last thread."""
    script = ("import runpy, sys, threading, time; "
              "threading.Thread(target=lambda: (time.sleep(1.0), print('thread finished', flush=True))).start(); "
              "sys.argv = ['main.py', 'config', 'show']; runpy.run_path('main.py', run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("DATABASE_URL=") and done.stdout.rstrip().endswith("thread finished")


def test_output_lost_to_a_full_disk_is_no_success() -> None:
    """As the interpreter's own exit does: stdout that cannot be flushed at the end exits 120, not 0."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # buffered, as a terminal user has it
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "main.py", "config", "show"], cwd=ROOT, stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=120, env=env)
    assert done.returncode == 120, done.stderr[-2000:]


def test_a_profiler_still_gets_its_profile(tmp_path: Path) -> None:
    """`python -m cProfile -o F main.py VERB` writes F after the script returns: no fast end under a profiler."""
    out = tmp_path / "verb.prof"
    done = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(out), "main.py", "config", "example"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert out.stat().st_size > 0


def test_daemons_and_help_end_as_before() -> None:
    from main import _is_one_shot

    assert _is_one_shot(["replay", "--data", "x"]) and _is_one_shot(["-v", "report", "performance"])
    assert not any(_is_one_shot(argv) for argv in (["both"], ["webhook"], ["sighook", "-v"], ["simulator"],
                                                   ["--help"], []))
