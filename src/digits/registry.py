"""The MLflow Model Registry: one version per evaluated run, `champion` on those that pass."""

from mlflow.entities.model_registry import ModelVersion
from mlflow.tracking import MlflowClient


def logged_model_id(client: MlflowClient, run_id: str) -> str:
    """The id of the model that the train stage logged in this run."""
    outputs = client.get_run(run_id).outputs
    models = outputs.model_outputs if outputs else []
    if not models:
        raise ValueError(f"MLflow run {run_id} has no logged model; rerun `dvc repro train`")
    return models[0].model_id


def register_run_model(
    client: MlflowClient, name: str, run_id: str, tags: dict[str, str]
) -> ModelVersion:
    """Register the run's model as a version of `name`, or return the version it already has."""
    existing = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    if existing:
        return existing[0]
    if not client.search_registered_models(f"name = '{name}'"):
        client.create_registered_model(name, description="Handwritten digit CNN (MNIST)")
    model_id = logged_model_id(client, run_id)
    return client.create_model_version(
        name, source=f"models:/{model_id}", run_id=run_id, tags=tags, model_id=model_id
    )
