"""DVC stage download: fetch the four MNIST IDX files into data/raw, verified."""

from digits.cli import run_stage
from digits.download import RetryPolicy, fetch_all, mirrors_to_try, provenance
from digits.files import write_json
from digits.params import load_params
from digits.paths import PROVENANCE_FILE, RAW_DIR


def main() -> None:
    params = load_params("download")
    policy = RetryPolicy(params["attempts"], params["timeout_seconds"], params["backoff_seconds"])
    fetched = fetch_all(params["files"], mirrors_to_try(params["mirrors"]), RAW_DIR, policy)
    record = provenance(fetched)
    write_json(PROVENANCE_FILE, record)
    source = "upstream checksums" if record["matches_upstream"] else "the mirror's SHA256SUMS"
    print(
        f"download: {len(fetched)} files verified against {source}; data digest {record['digest']}"
    )


if __name__ == "__main__":
    run_stage("download", main)
