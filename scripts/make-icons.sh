#!/usr/bin/env bash
# Draws the app icon with ImageMagick and writes every size the installers use into assets/icons/:
# PNGs (Linux desktop entries, AppImage), icon.ico (Windows, NSIS) and icon.icns (macOS .app/.dmg).
# The files are committed; run this again only to change the design. Needs `convert`
# (scripts/setup-deps.sh installs ImageMagick) and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
out=assets/icons
mkdir -p "$out"
master=$(mktemp --suffix=.png)
trap 'rm -f "$master"' EXIT

# 1024x1024: a blue rounded square, a white page with text lines, an orange "X" badge.
convert -size 1024x1024 xc:none \
  \( -size 1024x1024 gradient:'#2f6fdb-#173a8c' -alpha set \) \
  \( -size 1024x1024 xc:none -fill white -draw 'roundrectangle 40,40 984,984 200,200' \) \
  -delete 0 -compose DstIn -composite \
  -compose Over \
  -fill '#ffffff' -draw 'polygon 250,170 640,170 790,320 790,860 250,860' \
  -fill '#c9d8f5' -draw 'polygon 640,170 640,320 790,320' \
  -fill '#9db4e0' \
  -draw 'roundrectangle 320,400 720,430 15,15' \
  -draw 'roundrectangle 320,480 720,510 15,15' \
  -draw 'roundrectangle 320,560 620,590 15,15' \
  -fill '#ff8a1f' -draw 'circle 735,760 735,580' \
  -fill white -font DejaVu-Sans-Bold -pointsize 260 -gravity Center \
  -annotate +223+248 'X' \
  "$master"

for size in 16 32 48 64 128 256 512 1024; do
  convert "$master" -resize "${size}x${size}" -strip "PNG32:$out/${size}x${size}.png"
done
cp "$out/512x512.png" assets/icon.png
convert "$out/16x16.png" "$out/32x32.png" "$out/48x48.png" "$out/64x64.png" \
  "$out/128x128.png" "$out/256x256.png" "$out/icon.ico"

# ICNS: a header, then one PNG per entry (ic07 128, ic08 256, ic09 512, ic10 1024 px).
python3 - "$out" <<'PY'
import struct, sys
from pathlib import Path
out = Path(sys.argv[1])
entries = b""
for kind, size in [(b"ic07", 128), (b"ic08", 256), (b"ic09", 512), (b"ic10", 1024)]:
    data = (out / f"{size}x{size}.png").read_bytes()
    entries += kind + struct.pack(">I", 8 + len(data)) + data
(out / "icon.icns").write_bytes(b"icns" + struct.pack(">I", 8 + len(entries)) + entries)
PY
rm -f "$out/1024x1024.png"
echo "icons written to $out"
