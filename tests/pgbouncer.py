"""A PgBouncer of the test suite's own (not a test module): transaction
pooling in front of the test PostgreSQL, on a free port, with a config
written to a temporary folder; stopped at the end.

Debian's `pgbouncer` package provides the binary (`.ci/run` installs it).
With CI=true a missing or failing PgBouncer fails the tests that need it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.engine import make_url


@dataclass
class PgBouncer:
    url: str
    """The test database's URL through the proxy (`?prepared_statements=false`)."""
    port: int


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def find_binary() -> str | None:
    return shutil.which("pgbouncer") or next(
        (path for path in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.path.exists(path)),
        None,
    )


@contextmanager
def running_pgbouncer(postgres_url: str, *, pool_size: int = 4) -> Iterator[PgBouncer]:
    """Start PgBouncer (pool_mode=transaction, a small server pool so clients
    share server connections) in front of `postgres_url`; stop it afterwards.
    Raises RuntimeError when it cannot be started."""
    binary = find_binary()
    if binary is None:
        raise RuntimeError("pgbouncer is not installed (apt-get install -y pgbouncer)")
    target = make_url(postgres_url)
    port = _free_port()
    folder = tempfile.mkdtemp(prefix="mastra-pgbouncer-")
    user = target.username or "postgres"
    config = os.path.join(folder, "pgbouncer.ini")
    with open(os.path.join(folder, "users.txt"), "w") as users:
        users.write(f'"{user}" ""\n')
    with open(config, "w") as ini:
        ini.write(
            "[databases]\n"
            f"* = host={target.host or '127.0.0.1'} port={target.port or 5432}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {folder}/users.txt\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {pool_size}\n"
            "max_client_conn = 500\n"
            f"logfile = {folder}/pgbouncer.log\n"
            f"pidfile = {folder}/pgbouncer.pid\n"
        )
    command = [binary, config]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root
        account = "postgres"
        passwd = pwd.getpwnam(account)
        os.chmod(folder, 0o755)
        for name in os.listdir(folder):
            os.chown(os.path.join(folder, name), passwd.pw_uid, passwd.pw_gid)
        os.chown(folder, passwd.pw_uid, passwd.pw_gid)
        command = [binary, "-u", account, config]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while True:
            if process.poll() is not None:
                output = process.stdout.read().decode(errors="replace") if process.stdout else ""
                raise RuntimeError(f"pgbouncer exited at start: {output.strip()[-500:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("pgbouncer did not listen within 15 s") from None
                time.sleep(0.1)
        url = target.set(port=port, host="127.0.0.1").update_query_dict(
            {"prepared_statements": "false"}
        )
        yield PgBouncer(url.render_as_string(hide_password=False), port)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        if process.stdout:
            process.stdout.close()
        shutil.rmtree(folder, ignore_errors=True)
