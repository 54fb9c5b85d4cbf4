#!/usr/bin/env bash
# Installs the tools that check deploy/helm (helm, kubeconform) into .cache/tools/bin,
# built from source with `go install` at pinned versions, and prints that folder.
# Idempotent: a tool already there at the pinned version is kept. Needs Go (>= 1.24).
#
#   PATH="$(scripts/deploy-tools.sh):$PATH" helm version
set -euo pipefail

HELM_VERSION=v3.22.0
KUBECONFORM_VERSION=v0.8.0

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$root/.cache/tools/bin"
mkdir -p "$bin"

# Go's usual install places, for shells whose PATH lacks them.
PATH="$PATH:/usr/local/go/bin:$HOME/go/bin"
command -v go >/dev/null || { echo "deploy-tools: needs Go (go install) on PATH" >&2; exit 1; }

# Built once per pinned version: the stamp names the version the binary was built at.
install() {  # name version package
	local name=$1 version=$2 pkg=$3 stamp="$bin/.$1.version"
	if [[ -x "$bin/$name" && "$(cat "$stamp" 2>/dev/null)" == "$version" ]]; then
		return
	fi
	echo "deploy-tools: go install $pkg@$version" >&2
	GOBIN="$bin" GOFLAGS=-buildvcs=false go install "$pkg@$version" >&2
	echo "$version" >"$stamp"
}

# Concurrent pytest workers may call this together: one builds, the others wait.
exec 9>>"$bin/.lock"
flock 9
install helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm
install kubeconform "$KUBECONFORM_VERSION" github.com/yannh/kubeconform/cmd/kubeconform
echo "$bin"
