#!/usr/bin/env bash
# Run the official hydra-optuna-sweeper test-suite against a sweeper, changing nothing but
# which sweeper `hydra/sweeper=optuna` selects.
#   tests/tuning/official/run_official_suite.sh <plugin dir> [optuna|diffexp_optuna] [pytest args]
# <plugin dir>: facebookresearch/hydra's plugins/hydra_optuna_sweeper (its tests/ and example/).
# diffexp_optuna rewrites `hydra/sweeper=optuna` and `override hydra/sweeper: optuna` in a copy
# of tests/ and example/ to diffexp's sweeper; optuna runs the copy as it is.
set -euo pipefail
plugin=$(cd "$1" && pwd)
sweeper=${2:-diffexp_optuna}
shift $(( $# < 2 ? $# : 2 ))
here=$(cd "$(dirname "$0")/../../.." && pwd)
python=${PYTHON:-$here/.venv/bin/python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$plugin/tests" "$plugin/example" "$work/"
touch "$work/setup.py"  # chdir_plugin_root() looks for the folder holding setup.py
if [ "$sweeper" != optuna ]; then
  grep -rlE 'hydra/sweeper(=|: )optuna' "$work" | xargs sed -i -E \
    "s#hydra/sweeper=optuna\\b#hydra/sweeper=$sweeper#g; s#override hydra/sweeper: optuna\$#override hydra/sweeper: $sweeper#"
fi
cd "$work"
"$python" -m pytest -p no:cacheprovider -q -o addopts= tests "$@"
