"""DVC stage feedback: export the corrections a reviewer accepted
(reports/accepted_corrections.json, written by python -m digits.review) with their images
from the prediction log into data/feedback/ (train.npz, field.npz held out by time,
manifest.json). It reruns when the accepted set changes. With no accepted correction it
exports an empty snapshot and the pipeline trains as without feedback."""

from digits.cli import run_stage
from digits.feedback import accepted
from digits.field_data import export
from digits.params import load_params
from digits.paths import ACCEPTED_FILE, FEEDBACK_DIR
from digits.prediction_log import location


def main() -> None:
    params = load_params("feedback")
    where = location(load_params("monitor")["database"])
    manifest = export(accepted(where, ACCEPTED_FILE), FEEDBACK_DIR, params["holdout_share"])
    print(
        f"feedback: {manifest['accepted']} accepted corrections in {where}:"
        f" {manifest['train']} to train on, {manifest['field']} held out for evaluation"
        f" ({manifest['not_a_digit']} say 'not a digit'); snapshot {manifest['digest'][:12]}"
    )


if __name__ == "__main__":
    run_stage("feedback", main)
