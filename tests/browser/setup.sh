#!/usr/bin/env bash
# Installs what tests/browser.rs needs; safe to run again. CI (.ci/run, as root) calls it
# before `cargo test` with HERALD_TEST_REQUIRE_BROWSER=1.
#   - Chromium (Debian's `chromium` package) at /usr/bin/chromium
#   - Java (runs vnu.jar), curl, Node.js + npm, when missing
#   - tests/browser/node_modules from package-lock.json: playwright-core (drives the
#     system Chromium; it never downloads a browser), axe-core, and vnu-jar (the Nu HTML
#     Checker's own release of vnu.jar). Install scripts are skipped: vnu-jar's would
#     try to download a Java runtime, and the system Java is used instead.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

apt_packages=()
[[ -x /usr/bin/chromium ]] || apt_packages+=(chromium)
command -v java >/dev/null || apt_packages+=(default-jre-headless)
command -v curl >/dev/null || apt_packages+=(curl)
command -v node >/dev/null || apt_packages+=(nodejs)
command -v npm >/dev/null || apt_packages+=(npm)
if [[ ${#apt_packages[@]} -gt 0 ]]; then
    echo "== apt-get install ${apt_packages[*]}"
    sudo=""
    [[ "$(id -u)" -eq 0 ]] || sudo="sudo"
    $sudo apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${apt_packages[@]}"
fi

echo "== npm ci (tests/browser)"
cd "$here"
if [[ ! -d node_modules/playwright-core || ! -d node_modules/axe-core || ! -d node_modules/vnu-jar \
      || package-lock.json -nt node_modules/.package-lock.json ]]; then
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund
fi
echo "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo missing)"
echo "vnu.jar: $(bash "$here/validate_html.sh" --locate)"
