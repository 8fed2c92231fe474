# syntax=docker/dockerfile:1
# zerodrift's container image: a static, pure-Go binary (the SQLite ledger is modernc.org/sqlite,
# no cgo) on distroless, running as the unprivileged user 65532.
#
#   docker build --build-arg VERSION=$(git describe --tags --always) -t ghcr.io/zerodrift/zerodrift:dev .
#   docker buildx build --platform linux/amd64,linux/arm64 --build-arg VERSION=v0.1.0 .

ARG GO_VERSION=1.26

# The build runs on the builder's own platform and cross-compiles for the target one.
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src

# Dependencies first: this layer is rebuilt only when go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download

COPY . .
ARG VERSION=dev
ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/zerodrift ./cmd/zerodrift

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/zerodrift /zerodrift
USER 65532:65532
# /healthz, /readyz and /metrics of `zerodrift serve`.
EXPOSE 8080
ENTRYPOINT ["/zerodrift"]
CMD ["serve", "--config", "/etc/zerodrift/config.yaml"]
