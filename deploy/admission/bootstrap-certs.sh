#!/usr/bin/env bash
# Self-signed bootstrap (no cert-manager): a CA and a server certificate for the
# webhook Service, stored as the Secret sigstack-admission-tls; prints the manifest
# with CA_BUNDLE replaced, ready for kubectl apply.
#   deploy/admission/bootstrap-certs.sh | kubectl apply -f -
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ns=${NAMESPACE:-cosign-system}
svc=sigstack-admission
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cd "$work"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
  -subj "/CN=sigstack-admission-ca" -keyout ca.key -out ca.crt 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$svc.$ns.svc" \
  -keyout tls.key -out tls.csr 2>/dev/null
printf 'subjectAltName=DNS:%s.%s.svc,DNS:%s.%s.svc.cluster.local\nextendedKeyUsage=serverAuth\n' \
  "$svc" "$ns" "$svc" "$ns" > ext.cnf
openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 -extfile ext.cnf \
  -out tls.crt 2>/dev/null
kubectl get namespace "$ns" >/dev/null 2>&1 || kubectl create namespace "$ns" >&2
kubectl -n "$ns" create secret tls sigstack-admission-tls --cert=tls.crt --key=tls.key \
  --dry-run=client -o yaml | kubectl apply -f - >&2
sed "s|CA_BUNDLE|$(base64 -w0 < ca.crt)|" "$here/sigstack-admission.yaml"
