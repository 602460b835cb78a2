"""Runs one of the programs in examples/ as a subprocess and follows its output line by line, for
the examples_* e2e tests. Waiting is by polling the output (harness.wait_for), never by sleeping."""
import os
import re
import signal
import subprocess
import sys
import threading

import harness

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLES = os.path.join(ROOT, "examples")
PYTHON = sys.executable  # /usr/bin/python3 (Debian's grpcio), as ctest runs the tests


class Example:
    """A running example. `lines` grows as it prints (stdout); `stderr` holds its stderr once it ended."""

    def __init__(self, argv, env=None):
        e = dict(os.environ)
        e.update(env or {})
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e, cwd=ROOT)
        self.lines = []
        self.stderr = ""
        self._lock = threading.Lock()
        self._out = threading.Thread(target=self._read_stdout, daemon=True)
        self._err = threading.Thread(target=self._read_stderr, daemon=True)
        self._out.start()
        self._err.start()

    def _read_stdout(self):
        for line in self.proc.stdout:
            with self._lock:
                self.lines.append(line.rstrip("\n"))
        self.proc.stdout.close()

    def _read_stderr(self):
        self.stderr = self.proc.stderr.read()
        self.proc.stderr.close()

    def output(self):
        with self._lock:
            return list(self.lines)

    def text(self):
        return "\n".join(self.output()) + ("\nstderr:\n" + self.stderr if self.stderr else "")

    def wait_line(self, pattern, start=0, timeout=30.0):
        """Waits for a line at index >= start matching the regex; returns (index, match)."""
        rx = re.compile(pattern)

        def found():
            for i, line in enumerate(self.output()[start:], start):
                m = rx.search(line)
                if m:
                    return i, m
            if self.proc.poll() is not None:
                self._out.join(5)
                self._err.join(5)
                raise AssertionError(f"{os.path.basename(self.argv[1])} exited ({self.proc.returncode}) before printing "
                                     f"a line matching {pattern!r}:\n{self.text()}")
            return None
        try:
            return harness.wait_for(found, timeout=timeout, what=pattern)
        except TimeoutError:
            raise AssertionError(f"no line matching {pattern!r} within {timeout}s:\n{self.text()}")

    def finish(self, timeout=60.0, sig=None):
        """Optionally signals the example, waits for it to exit; returns its exit code."""
        if sig is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.argv[1]} did not exit within {timeout}s:\n{self.text()}")
        self._out.join(10)
        self._err.join(10)
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


def python_example(name, *args, env=None):
    return Example([PYTHON, os.path.join(EXAMPLES, "python", name), *args], env=env)


def seqs(lines):
    """The seq numbers the example printed, in order."""
    return [int(m.group(1)) for m in (re.match(r"seq=(\d+) ", line) for line in lines) if m]
