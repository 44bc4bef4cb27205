"""Where a cluster keeps its files, and the state file a running server writes.

The state file is written only once the server is ready, so its presence
plus a live pid is what `kyb status` and `kyb start` trust.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import orjson

from kybernetes.util.files import write_atomic

__all__ = ["ADMIN_KUBECONFIG", "LOG_FILE", "ServerState", "default_data_dir", "read_state",
           "remove_state", "write_state"]  # fmt: skip

STATE_FILE = "server.json"
ADMIN_KUBECONFIG = "kubeconfig"  # the admin kubeconfig, in the data dir
LOG_FILE = "server.log"


def default_data_dir() -> Path:
    """$KYB_DATA_DIR, else /var/lib/kybernetes for root, else ~/.kybernetes."""
    env = os.environ.get("KYB_DATA_DIR")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/kybernetes")
    return Path.home() / ".kybernetes"


def default_store_url(data_dir: Path) -> str:
    return f"sqlite://{data_dir.absolute()}/state.db"


@dataclass(frozen=True)
class ServerState:
    pid: int
    store_url: str
    api_url: str
    store_endpoint: str = ""
    # Component name -> what `kyb status` shows ("Running (runc 1.1.5)", "Disabled", ...).
    components: dict[str, str] = field(default_factory=dict)
    api_processes: int = 1


def write_state(data_dir: Path, state: ServerState) -> None:
    write_atomic(data_dir / STATE_FILE, orjson.dumps(asdict(state)), mode=0o600)


def read_state(data_dir: Path) -> ServerState | None:
    try:
        raw = orjson.loads((data_dir / STATE_FILE).read_bytes())
        return ServerState(
            int(raw["pid"]),
            str(raw["store_url"]),
            str(raw["api_url"]),
            str(raw.get("store_endpoint") or ""),
            {str(k): str(v) for k, v in (raw.get("components") or {}).items()},
            int(raw.get("api_processes") or 1),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remove_state(data_dir: Path) -> None:
    (data_dir / STATE_FILE).unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    """True while the process runs; an exited one not yet reaped (a zombie) is not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            # The state follows the parenthesised command name: "123 (kyb) Z ...".
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True
