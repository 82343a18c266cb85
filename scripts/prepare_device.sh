#!/usr/bin/env bash
# Prepare the one device run of benchmarks/gpu_check.py: the device has Python 3.12 with torch and
# transformers 5 but no network, so what it lacks travels as cp312 wheels in git-ignored folders:
#   .whl/py, .whl/ffmpeg  ultralytics and the other packages videocap needs there, and ffmpeg
#   .anchors/        NVIDIA's reference DAM (from ../shared/anchors) and its transformers 4 wheels
# Then run on the device in two calls (the commands this script prints at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${VIDEOCAP_SHARED:-../shared}
PY=${PYTHON:-python3}
exclude=$(git rev-parse --git-path info/exclude)
for folder in /.whl/ /.anchors/ /.devcache/; do
  grep -qxF "$folder" "$exclude" 2>/dev/null || echo "$folder" >> "$exclude"
done

download() {  # download DIR NAME==VERSION...
  local dir=$1; shift
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$dir" "$@"
}

rm -rf .whl && mkdir -p .whl/py .whl/ffmpeg .anchors
# Missing from the device image (per the device tool's package list); polars and
# ultralytics-platform are imported by ultralytics only for plots and its hub, not needed here.
# transformers: the release videocap is tested with (the image has 5.17); tokenizers 0.23 is there.
download .whl/py ultralytics==8.4.190 ultralytics-thop==2.2.3 lap==0.5.13 decord2==3.4.0 transformers==5.24.0
# imageio-ffmpeg's wheel (68 MB, its ffmpeg inside) is over one call's 64 MiB: its Python package goes
# without the binary, and the binary, xz-compressed (48 MB), travels alone in a first call.
download .whl imageio-ffmpeg==0.8.1
"$PY" - <<'PY'
import glob, lzma, shutil, zipfile
wheel = glob.glob(".whl/imageio_ffmpeg-*.whl")[0]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith("imageio_ffmpeg/binaries/ffmpeg"):
            with z.open(name) as src, lzma.open(".whl/ffmpeg/ffmpeg.xz", "wb", preset=6) as dst:
                shutil.copyfileobj(src, dst, 1 << 24)
        elif name.startswith("imageio_ffmpeg/"):
            z.extract(name, ".whl/py/site")
PY
rm .whl/imageio_ffmpeg-*.whl
rm -rf .anchors/dam-reference && cp -r "$SHARED/anchors/dam-reference" .anchors/
download .anchors/refwhl transformers==4.57.6 tokenizers==0.22.2 huggingface_hub==0.36.2
du -sh .whl/ffmpeg .whl/py .anchors
cat <<'CMD'
Device, call 1 (carry [".whl/ffmpeg"]): unpack ffmpeg into an ignored folder that stays while the machine is warm
  mkdir -p .devcache && python3 -c "import lzma,shutil; shutil.copyfileobj(lzma.open('.whl/ffmpeg/ffmpeg.xz'), open('.devcache/ffmpeg','wb'))" && chmod +x .devcache/ffmpeg && .devcache/ffmpeg -version | head -1
Device, call 2 at once (carry [".whl/py", ".anchors"], timeout_s 540):
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/py/*.whl && export PYTHONPATH=/tmp/site:$PWD/.whl/py/site:$PWD IMAGEIO_FFMPEG_EXE=$PWD/.devcache/ffmpeg YOLO_OFFLINE=1 && timeout 500 python3 benchmarks/gpu_check.py 2>&1 | tee $OUT/gpu_check.log
CMD
