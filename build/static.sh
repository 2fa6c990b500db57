#!/bin/sh
# The static build that the container image ships (Dockerfile) and that CI checks (.ci/run):
# one command in one place, so what CI checks is what the image runs.
#   usage: build/static.sh OUTPUT
# CGO_ENABLED=0: no libc, so it runs on distroless/static or scratch. -trimpath and -s -w: no
# build paths, no symbol tables. -buildvcs=false: the image's build context has no .git; the
# version comes from VERSION instead.
set -eu
out=${1:?usage: build/static.sh OUTPUT}
cd "$(dirname "$0")/.."
CGO_ENABLED=0 exec go build -trimpath -buildvcs=false -ldflags "-s -w -X main.version=$(cat VERSION)" -o "$out" .
