#!/usr/bin/env bash
# Install a PostgreSQL server from Debian (root only) for the tests' own throwaway servers.
#   bash .ci/postgres/install.sh     # idempotent: does nothing when initdb/postgres exist
# The tests (tests/postgres_server.py) start their own server under a temporary folder, bound
# to 127.0.0.1 on a random port; Debian's default cluster is not needed, so it is not created.
set -euo pipefail
if compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null \
  && compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  exit 0
fi
[[ $(id -u) -eq 0 ]] || { echo "install.sh: needs root to apt-get install postgresql" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# create_main_cluster=false: no system cluster on port 5432; the tests make their own.
mkdir -p /etc/postgresql-common
if ! grep -qs '^create_main_cluster' /etc/postgresql-common/createcluster.conf; then
  echo 'create_main_cluster = false' >> /etc/postgresql-common/createcluster.conf
fi
# --force-confold: keep that createcluster.conf instead of asking (dpkg prompts on a conffile
# that already exists, whatever DEBIAN_FRONTEND says).
apt-get install -y -qq -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
  postgresql
