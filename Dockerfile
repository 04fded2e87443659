# Portcullis: one static binary (CGO_ENABLED=0; SQLite and PostgreSQL drivers
# are pure Go) in a small image, running as a non-root user.
#
#   docker build -t portcullis .
#   docker run --rm portcullis version
#
# A production node needs a TLS certificate and a root key; see
# docs/operations.md ("Production deployment") and deploy/compose.yaml.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# -buildvcs=false: the build context has no .git (see .dockerignore), so
# `portcullis version` names the module version and the Go version only.
RUN CGO_ENABLED=0 go build -buildvcs=false -trimpath -ldflags="-s -w" -o /out/portcullis ./cmd/portcullis

FROM alpine:3.22
# busybox wget performs the health check; ca-certificates lets connectors,
# gateway backends and OIDC issuers be verified against public roots.
RUN apk add --no-cache ca-certificates \
 && addgroup -S -g 10001 portcullis \
 && adduser -S -D -H -u 10001 -G portcullis portcullis \
 && install -d -o portcullis -g portcullis -m 0700 /var/lib/portcullis
COPY --from=build /out/portcullis /usr/local/bin/portcullis
USER 10001:10001
WORKDIR /var/lib/portcullis
VOLUME /var/lib/portcullis
# 8443: token service, vault, admin API; 8444: gateway; 9464: metrics
# (loopback inside the container unless serve is given
# --metrics-listen 0.0.0.0:9464 --metrics-allow-remote).
EXPOSE 8443 8444 9464
# /readyz is 200 when the node reaches its database, 503 when it serves
# from its snapshot only (docs/operations.md, "Health and metrics"). The
# check runs inside the container against loopback, so it does not verify
# the certificate, which names the public host.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD wget -q -O /dev/null --no-check-certificate https://127.0.0.1:8443/readyz || exit 1
ENTRYPOINT ["/usr/local/bin/portcullis"]
CMD ["serve", "--listen", "0.0.0.0:8443", "--gateway-listen", "https://0.0.0.0:8444", \
     "--data", "/var/lib/portcullis", "--log-format", "json", \
     "--tls-cert", "/etc/portcullis/tls/tls.pem", "--tls-key", "/etc/portcullis/tls/tls-key.pem"]
