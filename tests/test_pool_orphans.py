"""A sweep's pool workers exit when the sweep process is killed (no orphans training on)."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest


@pytest.mark.skipif(sys.platform != "linux", reason="reparenting on parent death is Linux behaviour here")
def test_pool_worker_exits_when_its_parent_is_killed(tmp_path):
    pidfile = tmp_path / "worker.pid"
    script = textwrap.dedent(f"""
        import os, time
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context
        from bench.launchers import _die_with_parent

        def work(path):
            open(path, "w").write(str(os.getpid()))
            time.sleep(60)

        if __name__ == "__main__":
            pool = ProcessPoolExecutor(1, mp_context=get_context("spawn"), initializer=_die_with_parent,
                                       initargs=(os.getpid(),))
            pool.submit(work, {str(pidfile)!r})
            time.sleep(60)
    """)
    (tmp_path / "s.py").write_text(script)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.Popen([sys.executable, str(tmp_path / "s.py")], env={**os.environ, "PYTHONPATH": repo})
    deadline = time.time() + 30
    while not pidfile.exists() or not pidfile.read_text():
        assert time.time() < deadline, "worker never started"
        time.sleep(0.2)
    worker = int(pidfile.read_text())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 15
    while time.time() < deadline:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return  # gone
        time.sleep(0.3)
    os.kill(worker, signal.SIGKILL)
    pytest.fail("the pool worker outlived its killed parent")
