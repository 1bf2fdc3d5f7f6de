"""Which model version serves: promotion by evidence, forced promotion, rollback, and the
champion's bento. The package stage calls `promote_if_better`; the Makefile's `promote`,
`rollback` and `serve` call this module's commands:

    python -m digits.lifecycle show
    python -m digits.lifecycle promote VERSION --reason "why"
    python -m digits.lifecycle rollback --reason "why"
    python -m digits.lifecycle bento        # the champion's bento tag, imported if needed
"""

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import mlflow
import numpy as np
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.tracking import MlflowClient

from digits.errors import DigitsError, MissingInputError, RegistryError
from digits.evaluate import evaluate_model
from digits.field_data import FieldData
from digits.files import read_json
from digits.image_model import MODEL_ARTIFACT
from digits.packaging import bentoml_env
from digits.params import load_params
from digits.paths import BENTO_FILE, BENTO_INFO_FILE
from digits.policy import Policy
from digits.promotion import Decision, Rule, decide
from digits.registry import champion, history, move_alias, rollback_target
from digits.serving import DigitClassifier
from digits.tracking import EVALUATION_TAG, use_experiment

BENTO_TAG = "bento_tag"  # on versions: the bento built for them
BENTO_ARTIFACT = "bento"  # run artifact folder holding the exported bento


def champion_scores(
    client: MlflowClient,
    current: ModelVersion,
    digest: str,
    test: tuple[np.ndarray, np.ndarray],
    evaluate_params: dict,
    field: FieldData | None = None,
) -> dict[str, float]:
    """The champion's scores on the candidate's evaluation (test set, field snapshot): its
    run's own when they were measured on the same evaluation (same digest), else measured
    again now, with the policy it serves with."""
    run = client.get_run(current.run_id)
    if run.data.tags.get(EVALUATION_TAG) == digest:
        return run.data.metrics
    print(
        f"package: the champion (version {current.version}) was scored on another evaluation;"
        " scoring it on this one"
    )
    model_file, policy = served_model_of(current)
    classifier = DigitClassifier(model_file)
    images, labels = test
    evaluation = evaluate_model(
        classifier.probabilities, images, labels, evaluate_params, policy, field
    )
    return evaluation.metrics


def served_model_of(version: ModelVersion) -> tuple[Path, Policy]:
    """The served model file of a registered version, downloaded from the store, and the
    uncertain policy it was registered with."""
    target = Path(tempfile.mkdtemp(prefix="digits-champion-"))
    local = Path(mlflow.artifacts.download_artifacts(version.source, dst_path=str(target)))
    found = local / "artifacts" / MODEL_ARTIFACT
    if not found.exists():
        raise MissingInputError(f"version {version.version} of {version.name} has no {found.name}")
    config = Model.load(local).flavors["python_function"].get("config", {})
    if "uncertain_below" not in config:
        raise MissingInputError(f"version {version.version} of {version.name} has no policy")
    return found, Policy.of(config)


def promote_if_better(
    client: MlflowClient,
    version: ModelVersion,
    scores: dict[str, float],
    champion_scores_for: Callable[[ModelVersion], dict[str, float]],
    params: dict,
) -> Decision:
    """Move the alias to `version` only if it beats the champion by params' promotion rule;
    record the decision on the version and print it."""
    name, alias = params["registered_model"], params["alias"]
    current = champion(client, name, alias)
    rule = Rule.from_params(params["promotion"])
    if current is None:
        decision = decide(scores, None, rule)
    else:
        try:
            old = champion_scores_for(current)
        except MissingInputError as missing:  # a champion from before the served .tflite
            reason = f"the champion cannot be scored on this evaluation ({missing})"
            decision = Decision(False, reason + "; `make promote` moves @champion by hand")
        else:
            same_model = current.run_id == version.run_id
            decision = decide(scores, old, rule, same_model)
    tags = {
        "promotion.decision": "promoted" if decision.promote else "not promoted",
        "promotion.reason": decision.reason,
        "promotion.champion": str(current.version) if current else "none",
        "promotion.comparison": json.dumps(decision.comparison),
    }
    for key, value in tags.items():
        client.set_model_version_tag(name, version.version, key, value)
    against = f"against version {current.version}" if current else "with no champion"
    if decision.promote:
        move_alias(client, name, alias, version.version, "promoted", decision.reason)
        print(f"package: version {version.version} is now @{alias} ({against}): {decision.reason}")
    else:
        print(
            f"package: version {version.version} not promoted; @{alias} stays on version"
            f" {current.version}: {decision.reason}"
        )
    for score, row in decision.comparison.items():
        print(f"  {score:<28} {row['candidate']:.4f} vs {row['champion']:.4f}  {row['verdict']}")
    return decision


def show(client: MlflowClient, name: str, alias: str) -> None:
    """Print the champion and the alias's moves."""
    current = champion(client, name, alias)
    if current is None:
        print(f"{name} has no @{alias} yet: run `make pipeline`")
        return
    print(f"@{alias}: {name} version {current.version} (bento {current.tags.get(BENTO_TAG)})")
    for move in history(client, name):
        print(f"  {move['at']}  version {move['version']:>3}  {move['how']:<9} {move['reason']}")


def force(client: MlflowClient, name: str, alias: str, version: str, reason: str) -> None:
    """Move the alias by hand (make promote), whatever the evidence says."""
    client.get_model_version(name, version)  # a clear error for a version that does not exist
    previous = move_alias(client, name, alias, version, "forced", reason)
    print(f"@{alias}: version {previous or 'none'} -> version {version} (forced: {reason})")


def rollback(client: MlflowClient, name: str, alias: str, reason: str) -> None:
    """Move the alias back to the champion before the current one (make rollback)."""
    target = rollback_target(client, name, alias)
    previous = move_alias(client, name, alias, target, "rollback", reason)
    print(f"@{alias}: version {previous} -> version {target} (rollback: {reason})")


def champion_bento(client: MlflowClient, name: str, alias: str) -> str:
    """The tag of the champion's bento, imported into the BentoML store from the run's
    artifacts when the store does not have it (another machine, a fresh BENTOML_HOME)."""
    current = champion(client, name, alias)
    if current is None:
        raise RegistryError(f"{name} has no @{alias}: run `make pipeline` first")
    tag = current.tags.get(BENTO_TAG)
    if not tag:
        raise RegistryError(f"version {current.version} has no bento: run `make bento`")
    if _bentoml("get", tag).returncode != 0:
        with tempfile.TemporaryDirectory() as folder:
            archive = mlflow.artifacts.download_artifacts(
                run_id=current.run_id, artifact_path=BENTO_ARTIFACT, dst_path=folder
            )
            [bento] = Path(archive).glob("*.bento")
            _import(bento)
    return tag


def checkout_bento() -> str:
    """The bento this checkout packaged (dist/, also after `dvc pull`), imported if needed:
    served when no store knows a champion."""
    tag = read_json(BENTO_INFO_FILE)["bento_tag"]
    if _bentoml("get", tag).returncode != 0:
        _import(BENTO_FILE)
    print(f"no @champion in {mlflow.get_tracking_uri()}: serving {BENTO_FILE}", file=sys.stderr)
    return tag


def _import(bento: Path) -> None:
    imported = _bentoml("import", str(bento))
    if imported.returncode != 0:
        raise RuntimeError(f"bentoml import {bento} failed:\n{imported.stderr}")


def _bentoml(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bentoml", *arguments], env=bentoml_env(), capture_output=True, text=True
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m digits.lifecycle", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("show", help="the champion and the alias's history")
    promote = commands.add_parser("promote", help="make VERSION the champion, whatever it scored")
    promote.add_argument("version")
    promote.add_argument("--reason", required=True)
    back = commands.add_parser("rollback", help="back to the champion before the current one")
    back.add_argument("--reason", default="rolled back by hand")
    commands.add_parser("bento", help="print the champion's bento tag (imported if needed)")
    args = parser.parse_args(argv)

    params = load_params("package")
    name, alias = params["registered_model"], params["alias"]
    use_experiment(load_params("mlflow")["experiment_name"])
    client = MlflowClient()
    try:
        if args.command == "show":
            show(client, name, alias)
        elif args.command == "promote":
            force(client, name, alias, args.version, args.reason)
        elif args.command == "rollback":
            rollback(client, name, alias, args.reason)
        elif champion(client, name, alias) is None and BENTO_INFO_FILE.exists():
            print(checkout_bento())
        else:
            print(champion_bento(client, name, alias))
    except (DigitsError, MlflowException) as error:
        sys.exit(f"{parser.prog} {args.command}: error: {error}")


if __name__ == "__main__":
    main()
