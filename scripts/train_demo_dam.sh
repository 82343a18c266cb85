#!/usr/bin/env bash
# Reproduces videocap/data/models/shapes-dam, the bundled demo captioner (see README, "Bundled models").
# About 80 minutes on one CPU core for the first run, 4 minutes on two for the second.
# Thread counts change float rounding, so a rerun gives a model of the same quality, not the same bits.
set -euo pipefail
cd "$(dirname "$0")/.."
# 1. A new small DAM (configs/demo-dam.yaml) on 8-frame clips of 2000 generated videos.
videocap train-dam --data shapes:2000 --init videocap/data/configs/demo-dam.yaml --out runs/shapes-dam \
    --steps 4000 --batch-size 16 --aux-weight 0.5 --threads 1 --save-every 250
# 2. A short fine-tune that adds still images (DAM-3B-Video's single-image query), videos still mixed in.
videocap train-dam --data shapes:2000 --data shapes-stills:1500 --init runs/shapes-dam \
    --out videocap/data/models/shapes-dam --steps 600 --lr 3e-4 --vision-lr 5e-4 --threads 2 --save-every 200
python benchmarks/demo_eval.py --dam videocap/data/models/shapes-dam
