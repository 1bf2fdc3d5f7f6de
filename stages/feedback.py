"""DVC stage feedback: export the reviewed, accepted corrections of the prediction log into
data/feedback/ (train.npz, field.npz held out by time, manifest.json). It runs every time
(the log is outside DVC's view); what trains and evaluates downstream reruns only when the
exported snapshot changed. With no prediction log or no accepted correction it exports an
empty snapshot and the pipeline trains as without feedback."""

from digits.cli import run_stage
from digits.feedback import accepted
from digits.field_data import export
from digits.params import load_params
from digits.paths import FEEDBACK_DIR
from digits.prediction_log import location


def main() -> None:
    params = load_params("feedback")
    where = location(load_params("monitor")["database"])
    manifest = export(accepted(where), FEEDBACK_DIR, params["holdout_share"])
    print(
        f"feedback: {manifest['accepted']} accepted corrections in {where}:"
        f" {manifest['train']} to train on, {manifest['field']} held out for evaluation"
        f" ({manifest['not_a_digit']} say 'not a digit'); snapshot {manifest['digest'][:12]}"
    )


if __name__ == "__main__":
    run_stage("feedback", main)
