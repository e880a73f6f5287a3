#!/usr/bin/env bash
# A throwaway CA and certificates made by the openssl command, for the TLS tests (tests/api/tls.sh,
# the reactors' https receivers). In DIR: ca.pem/ca.key, and NAME.pem/NAME.key for
#   server     localhost and 127.0.0.1, valid now         rotated  the same, another serial
#   expired    localhost and 127.0.0.1, expired in 2020   otherhost  other.example only
#   ops, nobody  client certificates (clientAuth)
# plus a second CA (other-ca.pem) that signed none of them.
#   make_certs.sh DIR
set -euo pipefail
cd "$1"
cat >ca.cnf <<'CNF'
[ca]
default_ca = test
[test]
dir = .
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = any
unique_subject = no
[any]
commonName = supplied
CNF
: >index.txt
echo 1000 >serial
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj "/CN=reproj test CA" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.pem -days 2 -subj "/CN=another CA" 2>/dev/null
# issue NAME CN EXTENSIONS [START END]
issue() {
  openssl req -new -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$2" 2>/dev/null
  printf '%s\n' "$3" >"$1.ext"
  openssl ca -batch -notext -config ca.cnf -cert ca.pem -keyfile ca.key -in "$1.csr" -out "$1.pem" -extfile "$1.ext" \
    -startdate "${4:-$(date -u -d '-1 hour' +%Y%m%d%H%M%SZ)}" -enddate "${5:-$(date -u -d '+1 day' +%Y%m%d%H%M%SZ)}" \
    2>/dev/null || { echo "make_certs: openssl ca could not issue $1" >&2; exit 1; }
}
server_ext="subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth"
issue server localhost "$server_ext"
issue rotated localhost "$server_ext"
issue expired localhost "$server_ext" 20200101000000Z 20200102000000Z
issue otherhost other.example "subjectAltName=DNS:other.example
extendedKeyUsage=serverAuth"
issue ops ops "extendedKeyUsage=clientAuth"
issue nobody nobody "extendedKeyUsage=clientAuth"
