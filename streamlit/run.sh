#!/usr/bin/env bash
# Start the console from this folder so .streamlit/config.toml (localhost only) and
# .streamlit/secrets.toml apply. Extra arguments go to `streamlit run`.
set -euo pipefail
cd "$(dirname "$0")"
exec python3 -m streamlit run Home.py "$@"
