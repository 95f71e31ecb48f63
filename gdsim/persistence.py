"""Optional SQLite persistence, so a demo survives a restart.

Two tables: `meta` holds everything but findings as one JSON document (rewritten only when it
changed), `findings` holds one row per finding, written only for findings that changed since the
last save. The server saves after every request, the live ticker after every tick.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .records import Account, AccountRegion

if TYPE_CHECKING:
    from .state import SimulatorState

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS findings (
    region TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (region, id)
);
"""


def _encode(value: Any) -> Any:
    # Some finding members are timestamps (datetime in the boto3 spelling).
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    raise TypeError(f"cannot persist {type(value).__name__}")


def _decode(node: dict[str, Any]) -> Any:
    if set(node) == {"$datetime"}:
        return datetime.fromisoformat(node["$datetime"])
    return node


class Persistence:
    """Saves a SimulatorState to, and loads it from, one SQLite file."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._connection = sqlite3.connect(path, check_same_thread=False)
        self._connection.executescript(_SCHEMA)
        self._last_meta: str | None = None

    def _meta(self, state: SimulatorState) -> str:
        return json.dumps({
            "seed": state.seed,
            "accounts": {key: vars(account) for key, account in state.accounts.items()},
            "scopes": [scope.to_dict() for scope in state.scopes.values()],
            "management_account_id": state.management_account_id,
            "delegated_admins": state.delegated_admins,
            "sessions": state.sessions,
            "outbox": state.outbox,
            "clock": {"frozen": state._frozen.isoformat() if state._frozen else None,
                      "offset": state._offset.total_seconds()},
            # Where the world's random stream stands, so a restarted simulator continues it instead
            # of replaying the draws that built what is saved.
            "rng": state.rng.getstate(),
        }, sort_keys=True)

    def save(self, state: SimulatorState) -> None:
        """Write what changed since the last save."""
        with self._lock, self._connection as connection:
            meta = self._meta(state)
            if meta != self._last_meta:
                connection.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('state', ?)", (meta,))
                self._last_meta = meta
            for region, store in state.findings.items():
                changed, removed = store.drain_changes()
                connection.executemany(
                    "INSERT OR REPLACE INTO findings (region, id, data) VALUES (?, ?, ?)",
                    [(region, finding_id, json.dumps(store.by_id[finding_id].data, default=_encode))
                     for finding_id in changed if finding_id in store.by_id])
                connection.executemany("DELETE FROM findings WHERE region = ? AND id = ?",
                                       [(region, finding_id) for finding_id in removed])

    def close(self) -> None:
        """Close the SQLite connection."""
        with self._lock:
            self._connection.close()

    def clear(self) -> None:
        """Forget everything saved (the state was reset)."""
        with self._lock, self._connection as connection:
            connection.execute("DELETE FROM meta")
            connection.execute("DELETE FROM findings")
            self._last_meta = None

    def load(self, state: SimulatorState) -> None:
        """Restore a saved state (nothing happens for a new file)."""
        row = self._connection.execute("SELECT value FROM meta WHERE key = 'state'").fetchone()
        if row is None:
            state.track_changes()
            return
        meta = json.loads(row[0])
        state.seed = meta["seed"]
        state.accounts = {key: Account(**value) for key, value in meta["accounts"].items()}
        state.scopes = {(scope["account_id"], scope["region"]): AccountRegion.from_dict(scope)
                        for scope in meta["scopes"]}
        state.management_account_id = meta["management_account_id"]
        state.delegated_admins = meta["delegated_admins"]
        state.sessions = meta["sessions"]
        state.outbox = meta["outbox"]
        frozen = meta["clock"]["frozen"]
        state._frozen = datetime.fromisoformat(frozen) if frozen else None
        state._offset = timedelta(seconds=meta["clock"]["offset"])
        if meta.get("rng"):  # files saved before the stream was kept start it over (new ids still never clash)
            version, internal, gauss = meta["rng"]
            state.rng.setstate((version, tuple(internal), gauss))
        else:
            state.rng.seed(state.seed)
        state.index_verifications()
        for region, data in self._connection.execute("SELECT region, data FROM findings"):
            state.region_findings(region).put(json.loads(data, object_hook=_decode))
        state.track_changes()
        self._last_meta = self._meta(state)
