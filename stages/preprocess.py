"""DVC stage preprocess: IDX -> float32 (N, 28, 28, 1) splits train/val/test, plus statistics."""

from digits.cli import run_stage
from digits.dataset import save_split, split_stats, stratified_split, to_model_input
from digits.files import read_json, write_json
from digits.idx import read_pair
from digits.params import load_params
from digits.paths import DATA_STATS_FILE, PROVENANCE_FILE, RAW_DIR, split_file


def main() -> None:
    params = load_params("preprocess")
    train_images, train_labels = read_pair(
        RAW_DIR / "train-images-idx3-ubyte.gz", RAW_DIR / "train-labels-idx1-ubyte.gz"
    )
    test_images, test_labels = read_pair(
        RAW_DIR / "t10k-images-idx3-ubyte.gz", RAW_DIR / "t10k-labels-idx1-ubyte.gz"
    )
    train_index, val_index = stratified_split(
        train_labels, params["validation_size"], params["seed"]
    )
    splits = {
        "train": (to_model_input(train_images[train_index]), train_labels[train_index]),
        "val": (to_model_input(train_images[val_index]), train_labels[val_index]),
        "test": (to_model_input(test_images), test_labels),
    }
    source = read_json(PROVENANCE_FILE)  # per-file hashes stay there; the digest names the data
    stats = {"source": {key: source[key] for key in ("digest", "matches_upstream")}}
    for split, (images, labels) in splits.items():
        save_split(split_file(split), images, labels)
        stats[split] = split_stats(images, labels)
        print(f"preprocess: {split}: {len(labels)} images, pixel mean {stats[split]['pixel_mean']}")
    write_json(DATA_STATS_FILE, stats)


if __name__ == "__main__":
    run_stage("preprocess", main)
