#!/usr/bin/env bash
# Installs Fashion-MNIST where it is missing: Debian's dataset-fashion-mnist package puts the four gzipped IDX files in
# /usr/share/datasets/fashion-mnist, where the vision driver looks by default.
#   src/Train.Vision/setup-data.sh
set -euo pipefail
dir=/usr/share/datasets/fashion-mnist
if [[ -f $dir/train-images-idx3-ubyte.gz && -f $dir/t10k-labels-idx1-ubyte.gz ]]; then
  echo "Fashion-MNIST is already in $dir"
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "error: no apt-get here; put Fashion-MNIST's four IDX files (train/t10k images and labels, .gz or plain) in a folder and pass it with --data-dir" >&2
  exit 1
fi
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo=sudo; fi
$sudo apt-get update -qq
$sudo apt-get install -y -qq dataset-fashion-mnist
echo "Fashion-MNIST installed in $dir"
