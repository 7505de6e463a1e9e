#!/usr/bin/env bash
# Renders the app's main screens under Xvfb into docs/screenshots/*.png (used in the README):
# the first-run model manager, a document with its token meter and a streamed summary, a
# follow-up answer, the settings, a reply with its sources and a claim not found, and the
# document view, with the SmolLM2 test model. Look at them after a change
# to the UI.
#   scripts/screenshots.sh            # uses target/debug/xgen-desk (builds it if missing)
#   XGEN_DESK_BIN=path scripts/screenshots.sh
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-deps.sh
./scripts/fetch-test-models.sh >/dev/null
bin=${XGEN_DESK_BIN:-target/debug/xgen-desk}
[[ -x "$bin" ]] || cargo build
bin=$(realpath "$bin")
model=$(realpath .cache/models/SmolLM2-135M-Instruct.Q4_1.gguf)
out=docs/screenshots
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Runs the app in a fresh Xvfb display: session.sh HOME BIN OUT [ARGS...] -- ACTIONS... where
# each action is "sleep N", "key KEYS", "type TEXT", "replies N" (wait until N replies are saved
# complete) or "shot NAME".
cat > "$work/session.sh" <<'INNER'
#!/usr/bin/env bash
set -euo pipefail
home=$1; bin=$2; out=$3; shift 3
args=()
while [[ $# -gt 0 && $1 != -- ]]; do args+=("$1"); shift; done
shift
XGEN_DESK_HOME=$home "$bin" "${args[@]}" >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
sleep 3
# No window manager under Xvfb: give the window the keyboard focus by hand.
xdotool search --sync --name '^xgen-desk$' windowfocus --sync
# The pointer rests on the status bar, where it shows no tooltip.
xdotool mousemove 700 752
for action in "$@"; do
  case $action in
    sleep\ *) sleep "${action#sleep }" ;;
    key\ *) xdotool key --delay 80 ${action#key } ;;
    type\ *) xdotool type --delay 30 "${action#type }" ;;
    replies\ *)
      for _ in $(seq 600); do
        done_replies=$(cat "$home"/data/conversations/*.json 2>/dev/null | grep -c '"stats"' || true)
        [[ $done_replies -ge ${action#replies } ]] && break
        sleep 0.5
      done ;;
    shot\ *) import -window root "$out/${action#shot }.png"; echo "wrote $out/${action#shot }.png" ;;
  esac
done
INNER
chmod +x "$work/session.sh"
run() { xvfb-run -a -s "-screen 0 ${SCREEN:-1100x760}x24" "$work/session.sh" "$@"; }

# First run: no model yet, the model manager.
mkdir -p "$work/first"
run "$work/first" "$bin" "$out" -- "sleep 2" "shot models"

# A document, its summary, a follow-up, the settings.
mkdir -p "$work/chat/data"
printf '{"model": "%s", "summary_length": "Short"}\n' "$model" > "$work/chat/data/settings.json"
run "$work/chat" "$bin" "$out" "$out/sample-report.md" -- \
  "sleep 4" "shot document" "key ctrl+Return" "replies 1" "sleep 1" "shot summary" \
  "type What is the budget?" "key Return" "replies 2" "sleep 1" "shot follow-up" \
  "key ctrl+comma" "sleep 2" "shot settings"

# A reply checked against its document (docs/screenshots/checked-conversation.json, a saved
# conversation without its check): source chips after each bullet, a changed amount marked
# "not found in the document"; then the document view (Ctrl+F) with a passage highlighted.
mkdir -p "$work/checked/data/conversations"
printf '{"model": "%s"}\n' "$model" > "$work/checked/data/settings.json"
cp docs/screenshots/checked-conversation.json "$work/checked/data/conversations/screenshot-checked-reply.json"
run "$work/checked" "$bin" "$out" -- \
  "sleep 6" "shot sources" \
  "key ctrl+f" "sleep 1" "type twelve million" "key Return" "sleep 2" "shot document-view"

# The same conversation at 200% scale (a HiDPI screen): the window opens at twice the size.
SCREEN=2200x1520 WINIT_X11_SCALE_FACTOR=2 run "$work/chat" "$bin" "$out" -- "sleep 5" "shot scale-200"

# Light theme.
printf '{"model": "%s", "summary_length": "Short", "theme": "Light"}\n' "$model" > "$work/chat/data/settings.json"
run "$work/chat" "$bin" "$out" -- "sleep 5" "shot light"
