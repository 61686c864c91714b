#!/bin/sh
# The read replica: on its first start a base backup of the primary with
# -R (standby.signal and primary_conninfo), then a hot standby that streams
# the primary's WAL. docs/operations.md "Read replica".
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    until pg_isready -h postgres -U replicator -d postgres; do sleep 1; done
    export PGPASSWORD="$REPLICATION_PASSWORD"
    pg_basebackup -h postgres -U replicator -D "$PGDATA" -R -X stream --checkpoint=fast
    chmod 0700 "$PGDATA"
fi
exec postgres -c hot_standby=on -c hot_standby_feedback=on
