#!/usr/bin/env bash
# The whole test suite: Rust unit and end-to-end tests (real MariaDB servers, real processes),
# then the Streamlit GUI tests. Needs mariadb-server installed (see .ci/run); run as any user.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo build (all binaries: the end-to-end tests run them)"
cargo build --workspace --bins --quiet

echo "== model check (tests/model/converge_fk.py: foreign keys)"
python3 tests/model/converge_fk.py --check

echo "== cargo test"
cargo test --workspace --no-fail-fast -- --test-threads="${TEST_THREADS:-2}"

if [ -d streamlit/tests ]; then
  echo "== pytest streamlit"
  python3 -m pytest -q streamlit/tests
fi
