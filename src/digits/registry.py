"""The MLflow Model Registry: a version per packaged model, an alias for the champion, and a
history of the alias's moves so that a rollback knows where to go back to."""

import json
import time

import mlflow
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from digits.errors import RegistryError

HISTORY_TAG = "champion_history"  # on the registered model: the alias's moves, oldest first
HISTORY_KEPT = 40  # moves kept (an MLflow tag value holds a few thousand characters)


def register_model(
    client: MlflowClient, name: str, model_id: str, tags: dict[str, str]
) -> ModelVersion:
    """A new version of `name` for the logged model `model_id` (and so its run). Registered through
    mlflow.register_model, which also tags the logged model with its versions (the MLflow UI
    shows a logged model as registered by that tag; client.create_model_version does not set it)."""
    if not client.search_registered_models(f"name = '{name}'"):
        client.create_registered_model(name, description="Handwritten digit CNN (MNIST)")
    return mlflow.register_model(f"models:/{model_id}", name, tags=tags)


def champion(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    """The version the alias names, or None when there is none (or no such model)."""
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def history(client: MlflowClient, name: str) -> list[dict]:
    """The alias's moves, oldest first: version, when, how (promoted, forced, rollback), why."""
    tags = client.get_registered_model(name).tags
    return json.loads(tags.get(HISTORY_TAG, "[]"))


def move_alias(
    client: MlflowClient, name: str, alias: str, version: str, how: str, reason: str
) -> str | None:
    """Point the alias at `version`, record the move in the history and on the version;
    return the version it named before (None if it named none)."""
    previous = champion(client, name, alias)
    client.set_registered_model_alias(name, alias, version)
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    move = {"version": str(version), "at": at, "how": how, "reason": reason}
    moves = [*history(client, name), move]
    client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(moves[-HISTORY_KEPT:]))
    client.set_model_version_tag(name, version, f"{alias}.{how}", reason)
    return str(previous.version) if previous else None


def rollback_target(client: MlflowClient, name: str, alias: str) -> str:
    """The version the alias named before the current one. Rollbacks undo moves, so rolling
    back twice goes back two champions, not back and forth."""
    current = champion(client, name, alias)
    if current is None:
        raise RegistryError(f"{name} has no @{alias} to roll back")
    reigns: list[str] = []  # the champions still standing, oldest first
    for move in history(client, name):
        if move["how"] == "rollback":
            reigns = reigns[:-1]
        else:
            reigns.append(move["version"])
    earlier = [version for version in reigns if version != str(current.version)]
    if not earlier:
        raise RegistryError(f"no earlier @{alias} than version {current.version} to roll back to")
    return earlier[-1]
