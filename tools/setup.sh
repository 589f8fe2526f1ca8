#!/usr/bin/env bash
# Install the system packages ParamKit builds against (Debian/Ubuntu): HDF5, OpenBLAS, libjpeg, libpng, pkg-config
# (SwiftPM needs the binary to find both) and the HDF5 command-line tools. Skips what is present.
set -euo pipefail
packages="libhdf5-dev libopenblas-dev libjpeg62-turbo-dev libpng-dev zlib1g-dev hdf5-tools pkg-config"
missing=$(dpkg-query -W -f='${Package} ${Status}\n' $packages 2>/dev/null | awk '$NF != "installed" {print $1}' || true)
for p in $packages; do dpkg-query -W "$p" >/dev/null 2>&1 || missing="$missing $p"; done
missing=$(echo $missing | tr ' ' '\n' | sort -u | tr '\n' ' ')
if [ -n "${missing// /}" ]; then
  echo "installing:$missing"
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing
else
  echo "system packages present: $packages"
fi
