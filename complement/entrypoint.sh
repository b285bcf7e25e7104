#!/bin/sh
# Starts the homeserver the way Complement expects. Runs again on every start of
# the container, including containers made from a committed one (blueprints), so
# each step either keeps what an earlier run made or remakes it:
# - the config is rendered from SERVER_NAME every time;
# - the signing key and the database are kept;
# - the federation TLS certificate is remade, signed by the CA Complement mounts
#   at /complement/ca (ca.crt, ca.key), which may differ between runs;
# - the application service registrations are the files Complement copies to
#   /complement/appservice (one <id>.yaml each) before every start.
set -eu

: "${SERVER_NAME:?SERVER_NAME must be set}"
DATA=/data
DATABASE=${HOMESERVER_DATABASE:-sqlite}
CA_DIR=/complement/ca
mkdir -p "$DATA"
umask 077

# --- federation TLS certificate ------------------------------------------------
if [ -f "$CA_DIR/ca.crt" ] && [ -f "$CA_DIR/ca.key" ]; then
    [ -f "$DATA/tls.key" ] || openssl genrsa -out "$DATA/tls.key" 2048 2>/dev/null
    cat >"$DATA/tls.ext" <<EOF
basicConstraints = CA:FALSE
keyUsage = digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:$SERVER_NAME
EOF
    openssl req -new -key "$DATA/tls.key" -subj "/CN=$SERVER_NAME" -out "$DATA/tls.csr"
    openssl x509 -req -in "$DATA/tls.csr" -CA "$CA_DIR/ca.crt" -CAkey "$CA_DIR/ca.key" \
        -CAcreateserial -CAserial "$DATA/ca.srl" -days 365 -sha256 \
        -extfile "$DATA/tls.ext" -out "$DATA/tls.crt" 2>/dev/null
    # Trust Complement's CA for our own outbound federation requests.
    cp "$CA_DIR/ca.crt" /usr/local/share/ca-certificates/complement.crt
    update-ca-certificates >/dev/null 2>&1 || true
else
    # Not under Complement: a self-signed certificate keeps the listener up.
    echo "no CA at $CA_DIR: using a self-signed certificate" >&2
    openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=$SERVER_NAME" \
        -addext "subjectAltName = DNS:$SERVER_NAME" \
        -keyout "$DATA/tls.key" -out "$DATA/tls.crt" 2>/dev/null
fi

# --- database ------------------------------------------------------------------
if [ "$DATABASE" = postgres ]; then
    PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    PGDATA=$DATA/postgres
    mkdir -p /run/postgresql "$PGDATA"
    touch "$DATA/postgres.log"
    chown postgres:postgres /run/postgresql "$PGDATA" "$DATA/postgres.log"
    if [ ! -f "$PGDATA/PG_VERSION" ]; then
        runuser -u postgres -- "$PGBIN/initdb" -D "$PGDATA" -U postgres -A trust \
            --encoding=UTF8 --locale=C >/dev/null
    fi
    # A committed container leaves a stale lock file behind.
    rm -f "$PGDATA/postmaster.pid"
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -w -l "$DATA/postgres.log" \
        -o "-c listen_addresses='' -c unix_socket_directories=/run/postgresql -c fsync=off" start \
        >/dev/null
    runuser -u postgres -- "$PGBIN/psql" -h /run/postgresql -qtAc \
        "SELECT 1 FROM pg_database WHERE datname = 'homeserver'" | grep -q 1 \
        || runuser -u postgres -- "$PGBIN/createdb" -h /run/postgresql homeserver
    DB_URL="postgresql://postgres@/homeserver?host=/run/postgresql"
else
    DB_URL="sqlite:///$DATA/homeserver.db"
fi

# --- application services ----------------------------------------------------------
# Complement writes one registration per appservice of the blueprint; the
# directory is absent when the test has none.
AS_DIR=/complement/appservice
AS_FILES=""
if [ -d "$AS_DIR" ]; then
    for f in "$AS_DIR"/*.yaml; do
        [ -f "$f" ] || continue
        AS_FILES="$AS_FILES
  - '$(printf '%s' "$f" | sed "s/'/''/g")'"
    done
fi
[ -n "$AS_FILES" ] || AS_FILES=" []"

# --- config ----------------------------------------------------------------------
cat >"$DATA/homeserver.yaml" <<EOF
server_name: "$SERVER_NAME"
data_dir: $DATA
database:
  url: "$DB_URL"
listeners:
  # As in Synapse's Complement image, 8008 serves the federation paths too:
  # Complement's clients call them there (e.g. TestUnknownEndpoints).
  - bind_address: 0.0.0.0
    port: 8008
    resources: [client, federation, keys, media, admin]
  - bind_address: 0.0.0.0
    port: 8448
    tls: true
    tls_certificate_path: $DATA/tls.crt
    tls_private_key_path: $DATA/tls.key
    resources: [federation, keys, media]
registration:
  enabled: true
  shared_secret: complement
  password_min_length: 0
rate_limits:
  enabled: false
# URL previews on, private addresses allowed: Complement serves the pages it
# previews from the Docker host (Synapse's Complement config does the same).
media:
  url_preview_enabled: true
  url_preview_ip_range_blacklist: []
logging:
  level: ${HOMESERVER_LOG_LEVEL:-INFO}
app_service_config_files:$AS_FILES
EOF

exec homeserver run --config "$DATA/homeserver.yaml"
