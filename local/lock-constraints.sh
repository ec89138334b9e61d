#!/usr/bin/env bash
# Regenerate constraints.txt from a working virtualenv (default: .tox/mlops).
# The core TFX pins come from ../shared/notes/tfx-on-python311.md; everything else is what
# pip resolved around them, locked so installs are reproducible and skip backtracking.
set -euo pipefail
venv="${1:-.tox/mlops}"
cd "$(dirname "$0")/.."
{
  sed -n '/^# ---- lock/q;p' constraints.txt
  echo "# ---- lock: every other package, as resolved (local/lock-constraints.sh) ----"
  "$venv/bin/pip" freeze --exclude-editable | grep -v -i '^portable-mlops' \
    | grep -v -E '^(tfx|ml-pipelines-sdk|ml-metadata|tensorflow|tensorflow-data-validation|tensorflow-transform|tensorflow-model-analysis|tfx-bsl|tensorflow-metadata|tensorflow-serving-api|tensorflow-hub|apache-beam|pyarrow|numpy|pandas|protobuf|scikit-learn|attrs)==' \
    | sort -f
} > constraints.txt.new
mv constraints.txt.new constraints.txt
echo "constraints.txt: $(grep -c '==' constraints.txt) pins"
