# syntax=docker/dockerfile:1
# exoscale-keys-mcp as a container: a static binary on distroless (no shell, no libc, uid 65532).
#   docker build -t exoscale-keys-mcp .
# The default command serves streamable HTTP on every interface, which the server allows only
# with a bearer token and TLS, or --allow-insecure-http behind a TLS proxy (README, "Container").
# For stdio, run it with `docker run -i --rm … stdio`.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags "-s -w -X main.version=$(cat VERSION)"
RUN sh build/static.sh /out/exoscale-keys-mcp

FROM gcr.io/distroless/static-debian12:nonroot
# The MCP registry checks this label to accept the image for io.github.exokeys/exoscale-keys-mcp.
LABEL io.modelcontextprotocol.server.name="io.github.exokeys/exoscale-keys-mcp" \
      org.opencontainers.image.source="https://github.com/exokeys/exoscale-keys-mcp" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/exoscale-keys-mcp /usr/local/bin/exoscale-keys-mcp
USER nonroot:nonroot
EXPOSE 8080
# GET /healthz answers {"status":"ok"} for orchestrators' probes (no shell here for a HEALTHCHECK).
ENTRYPOINT ["/usr/local/bin/exoscale-keys-mcp"]
CMD ["http", "--listen", "0.0.0.0:8080"]
