"""The default MLflow store, <checkout>/mlflow.db with artifacts in <checkout>/mlartifacts,
follows its checkout when the checkout is copied or moved.

MLflow stores artifact locations as absolute paths (it resolves relative ones when it creates
them), so a copied checkout would go on reading and writing the original's artifacts. The copy
rewrites those locations to its own directory the first time a stage uses the store.
"""

import sqlite3
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

ARTIFACTS = "mlartifacts"
# Every column of MLflow 3's schema that holds an absolute artifact location or source.
LOCATIONS = (
    ("experiments", "artifact_location", ""),
    ("runs", "artifact_uri", ""),
    ("logged_models", "artifact_location", ""),
    ("model_versions", "storage_location", ""),
    ("model_versions", "source", ""),
    ("trace_tags", "value", "AND key = 'mlflow.artifactLocation'"),
    ("workspaces", "default_artifact_root", ""),
)


def moved_from(database: Path, root: Path) -> Path | None:
    """The checkout this store's artifacts were created in, when that is not `root`."""
    with sqlite3.connect(database) as connection:
        if not _tables(connection) >= {"experiments"}:
            return None
        locations = connection.execute("SELECT artifact_location FROM experiments").fetchall()
    for (location,) in locations:
        if location and location.startswith("file:") and location.endswith(f"/{ARTIFACTS}"):
            origin = Path(unquote(urlparse(location).path)).parent
            if origin != root:
                return origin
    return None


def relocate(database: Path, old: Path, new: Path) -> int:
    """Rewrite every artifact location under `old` to the same place under `new`, as paths and
    as file URIs, in one transaction; return how many values changed."""
    pairs = [(old.as_uri(), new.as_uri()), (str(old), str(new))]
    changed = 0
    connection = sqlite3.connect(database, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")  # one writer: parallel experiments wait here
        tables = _tables(connection)
        for table, column, condition in LOCATIONS:
            if table not in tables:
                continue
            for before, after in pairs:
                changed += connection.execute(
                    f"UPDATE {table} SET {column} = ? || substr({column}, length(?) + 1)"
                    f" WHERE ({column} = ? OR substr({column}, 1, length(?) + 1) = ? || '/')"
                    f" {condition}",
                    (after, before, before, before, before),
                ).rowcount
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    finally:
        connection.close()
    return changed


def follow_checkout(database: Path, root: Path) -> None:
    """Relocate the store to `root` if it was made in another checkout."""
    if not database.exists():
        return
    origin = moved_from(database, root)
    if origin is not None:
        count = relocate(database, origin, root)
        print(
            f"MLflow store {database} was made in {origin}: its {count} artifact locations now"
            f" point into {root}",
            file=sys.stderr,
        )


def _tables(connection: sqlite3.Connection) -> set[str]:
    rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {name for (name,) in rows}


if __name__ == "__main__":  # make mlflow-ui: the dashboard of a moved checkout reads its own
    from digits.paths import shared_project_root

    follow_checkout(shared_project_root() / "mlflow.db", shared_project_root())
