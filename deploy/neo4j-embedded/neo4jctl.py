#!/usr/bin/env python3
"""Build, start, stop and inspect the embedded Neo4j used for development and tests.

Standard library only, so the Makefile and the test fixtures can call it before any virtual
environment exists. One Neo4j runs per home folder, which contains the database files, the
process id (``neo4j.pid``), the log (``neo4j.log``) and the readiness file (``ready``).

    NEO4J_PASSWORD=... python deploy/neo4j-embedded/neo4jctl.py start --home .kgreason/neo4j
    python deploy/neo4j-embedded/neo4jctl.py stop --home .kgreason/neo4j

``start`` prints the Bolt URI on success. It reuses a launcher already running for the same home
and port, replaces one that no longer responds, and fails with a clear message when the port
belongs to another program.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent
MAIN_CLASS = "dev.kgreason.neo4j.EmbeddedNeo4j"
CLASSES_DIR = PROJECT_DIR / "target" / "classes"
LIB_DIR = PROJECT_DIR / "target" / "lib"

EXIT_FAILED = 1
EXIT_PORT_IN_USE = 3


class LauncherError(Exception):
    """A failure that is reported to the user as one line, with a non-zero exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED):
        super().__init__(message)
        self.exit_code = exit_code


def build(quiet: bool = True) -> None:
    """Compile the launcher and copy Neo4j's jars to target/lib, unless they are up to date."""
    sources = list((PROJECT_DIR / "src").rglob("*.java")) + [PROJECT_DIR / "pom.xml"]
    stamp = CLASSES_DIR / "dev" / "kgreason" / "neo4j" / "EmbeddedNeo4j.class"
    if stamp.exists() and LIB_DIR.is_dir():
        newest_source = max(path.stat().st_mtime for path in sources)
        if stamp.stat().st_mtime >= newest_source:
            return
    command = ["mvn", "-B", "package", "-DskipTests"]
    if quiet:
        command.insert(1, "-q")
    print("neo4jctl: building the embedded Neo4j launcher with Maven", file=sys.stderr)
    result = subprocess.run(command, cwd=PROJECT_DIR)
    if result.returncode != 0:
        raise LauncherError(f"Maven build failed with exit code {result.returncode} in {PROJECT_DIR}")


def _read_pid(home: Path) -> int | None:
    try:
        return int((home / "neo4j.pid").read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _is_our_launcher(pid: int, home: Path) -> bool:
    """Check that pid is alive and is this launcher serving this home folder."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    args = [part.decode(errors="replace") for part in cmdline]
    return MAIN_CLASS in args and str(home) in args


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def _bolt_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _terminate(pid: int, timeout: float) -> None:
    """Send SIGTERM, wait up to timeout seconds for a clean shutdown, then SIGKILL."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists() or _is_zombie(pid):
            return
        time.sleep(0.2)
    print(f"neo4jctl: Neo4j (pid {pid}) did not stop within {timeout:.0f} s; killing it", file=sys.stderr)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _is_zombie(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


def _clear_state(home: Path) -> None:
    for name in ("neo4j.pid", "ready"):
        (home / name).unlink(missing_ok=True)


def start(home: Path, host: str, port: int, heap: str, pagecache: str, timeout: float) -> str:
    """Start Neo4j for home on host:port, or reuse the one already serving it; return the URI."""
    if len(os.environ.get("NEO4J_PASSWORD", "")) < 8:
        raise LauncherError("NEO4J_PASSWORD must be set to a password of at least 8 characters")
    home.mkdir(parents=True, exist_ok=True)
    uri = f"bolt://{host}:{port}"

    pid = _read_pid(home)
    if pid is not None:
        ready = (home / "ready")
        if _is_our_launcher(pid, home):
            if ready.exists() and ready.read_text().strip() == uri and _bolt_answers(host, port):
                print(f"neo4jctl: reusing Neo4j already running for {home} (pid {pid})", file=sys.stderr)
                return uri
            print(f"neo4jctl: replacing Neo4j (pid {pid}) for {home}: not ready on {uri}", file=sys.stderr)
            _terminate(pid, timeout=60)
        else:
            print(f"neo4jctl: removing stale state of process {pid}, which is no longer running", file=sys.stderr)
        _clear_state(home)

    if _port_in_use(host, port):
        raise LauncherError(
            f"port {port} on {host} is already in use by another program, not by the kgreason "
            f"embedded Neo4j of {home}; stop that program or choose another port (--port or NEO4J_PORT)",
            EXIT_PORT_IN_USE,
        )

    build()
    java = os.environ.get("JAVA_HOME") and str(Path(os.environ["JAVA_HOME"]) / "bin" / "java") or "java"
    command = [
        java, f"-Xmx{heap}", "-XX:+UseG1GC", "-XX:+ExitOnOutOfMemoryError",
        "-cp", f"{CLASSES_DIR}{os.pathsep}{LIB_DIR}/*",
        MAIN_CLASS, "--data", str(home), "--host", host, "--port", str(port), "--pagecache", pagecache,
    ]
    log_path = home / "neo4j.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    (home / "neo4j.pid").write_text(f"{process.pid}\n")

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _clear_state(home)
            raise LauncherError(
                f"Neo4j exited with code {process.returncode} during start-up; last lines of {log_path}:\n"
                + _tail(log_path, 25)
            )
        if (home / "ready").exists() and _bolt_answers(host, port):
            return uri
        time.sleep(0.25)
    _terminate(process.pid, timeout=30)
    _clear_state(home)
    raise LauncherError(f"Neo4j did not become ready within {timeout:.0f} s; see {log_path}:\n" + _tail(log_path, 25))


def stop(home: Path, timeout: float) -> bool:
    """Stop the Neo4j serving home; return whether one was running."""
    pid = _read_pid(home)
    if pid is None:
        return False
    running = _is_our_launcher(pid, home)
    if running:
        _terminate(pid, timeout)
    _clear_state(home)
    return running


def _tail(path: Path, lines: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log written)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="compile the launcher and fetch Neo4j from Maven Central")
    for name in ("start", "stop", "status"):
        command = sub.add_parser(name)
        command.add_argument("--home", type=Path, required=True, help="folder for the database, log and pid file")
        if name == "start":
            command.add_argument("--host", default=os.environ.get("NEO4J_HOST", "127.0.0.1"),
                                 help="address Bolt listens on (default 127.0.0.1)")
            command.add_argument("--port", type=int, default=int(os.environ.get("NEO4J_PORT", "7687")),
                                 help="Bolt port (default 7687, or NEO4J_PORT)")
            command.add_argument("--heap", default=os.environ.get("NEO4J_HEAP", "2g"),
                                 help="maximum JVM heap, as for java -Xmx (default 2g)")
            command.add_argument("--pagecache", default=os.environ.get("NEO4J_PAGECACHE", "512m"),
                                 help="Neo4j page cache size (default 512m)")
        if name in ("start", "stop"):
            command.add_argument("--timeout", type=float, default=120.0, help="seconds to wait (default 120)")
    args = parser.parse_args(argv)

    try:
        if args.command == "build":
            build(quiet=False)
        elif args.command == "start":
            print(start(args.home.resolve(), args.host, args.port, args.heap, args.pagecache, args.timeout))
        elif args.command == "stop":
            if not stop(args.home.resolve(), args.timeout):
                print(f"neo4jctl: no Neo4j was running for {args.home}", file=sys.stderr)
        elif args.command == "status":
            pid = _read_pid(args.home.resolve())
            if pid is not None and _is_our_launcher(pid, args.home.resolve()):
                print(f"running (pid {pid})")
            else:
                print("stopped")
                return 1
    except LauncherError as error:
        print(f"neo4jctl: {error}", file=sys.stderr)
        return error.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
