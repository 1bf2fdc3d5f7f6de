"""Every path the pipeline reads or writes, relative to the project root, in one place."""

from pathlib import Path

# src/digits/paths.py -> project root. Stages run with PYTHONPATH=src, so inside a
# `dvc exp run --temp` workspace this is the temporary copy, which is what DVC expects.
PROJECT_ROOT = Path(__file__).resolve().parents[2]

PARAMS_FILE = PROJECT_ROOT / "params.yaml"
DATA_DIR = PROJECT_ROOT / "data"
RAW_DIR = DATA_DIR / "raw"
PROVENANCE_FILE = RAW_DIR / "provenance.json"
PROCESSED_DIR = DATA_DIR / "processed"
FEEDBACK_DIR = DATA_DIR / "feedback"  # accepted corrections: train.npz, field.npz, manifest
FEEDBACK_MANIFEST = FEEDBACK_DIR / "manifest.json"
MODEL_DIR = DATA_DIR / "model"
MODEL_FILE = MODEL_DIR / "model.keras"
LITE_MODEL_FILE = MODEL_DIR / "model.tflite"  # its conversion: what is evaluated and served
RUN_FILE = MODEL_DIR / "mlflow_run.json"

REPORTS_DIR = PROJECT_ROOT / "reports"
DATA_STATS_FILE = REPORTS_DIR / "data_stats.json"
LIVE_DIR = REPORTS_DIR / "live"  # DVCLive: metrics.json and plots/metrics/{train,eval}/*.tsv
TRAIN_METRICS_FILE = REPORTS_DIR / "train.json"
METRICS_FILE = REPORTS_DIR / "metrics.json"
CONVERSION_FILE = REPORTS_DIR / "conversion.json"
PER_CLASS_FILE = REPORTS_DIR / "per_class.json"
CONFUSION_FILE = REPORTS_DIR / "confusion.csv"
CONFUSION_PNG = REPORTS_DIR / "confusion_matrix.png"
MISCLASSIFIED_PNG = REPORTS_DIR / "misclassified.png"
NON_DIGITS_MISSED_PNG = REPORTS_DIR / "non_digits_missed.png"
# What each uncertain threshold flags on the validation split: what the policy is chosen from.
POLICY_CURVE_FILE = REPORTS_DIR / "policy_validation.csv"
POLICY_FILE = REPORTS_DIR / "policy.json"  # the policy chosen from it, packaged with the model
# The corrections a reviewer accepted (python -m digits.review writes it; git keeps it).
ACCEPTED_FILE = REPORTS_DIR / "accepted_corrections.json"
# The answers to the evaluation's realistic images: the drift report's default reference.
REALISTIC_ANSWERS_FILE = REPORTS_DIR / "realistic_answers.csv"
MONITORING_DIR = REPORTS_DIR / "monitoring"  # make monitor's outputs; not in git
DRIFT_FILE = MONITORING_DIR / "drift.json"
DRIFT_PNG = MONITORING_DIR / "drift.png"
PINNED_REFERENCE_FILE = MONITORING_DIR / "reference.csv"  # make monitor-reference

DIST_DIR = PROJECT_ROOT / "dist"
BENTO_FILE = DIST_DIR / "digits.bento"
BENTO_INFO_FILE = DIST_DIR / "bento.json"


def split_file(split: str) -> Path:
    """The compressed array file of one split: train, val or test."""
    return PROCESSED_DIR / f"{split}.npz"


def shared_project_root(root: Path = PROJECT_ROOT) -> Path:
    """The user's checkout, also when running inside a `dvc exp run --temp` workspace.

    Temporary and queued experiments run in `<checkout>/.dvc/tmp/exps/<name>/`, a copy that is
    deleted afterwards; the MLflow store must live in the checkout so every run lands in one place.
    """
    parts = root.parts
    for i in range(len(parts) - 3):
        if parts[i : i + 3] == (".dvc", "tmp", "exps"):
            return Path(*parts[:i])
    return root
