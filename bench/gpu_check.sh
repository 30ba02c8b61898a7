#!/usr/bin/env bash
# The GPU check: one command for a borrowed CUDA machine (Python 3.12 with CuPy, JAX and PyTorch, no
# TensorFlow, no network), about 8 minutes on an H100. From the repository root:
#
#   python3 bench/gpu_data.py --data-dir DIR --out .gpu      # here, once: small dataset copies
#   pip download ... -d .whl keras==3.15.1 namex optree                  # here, once: see the README
#   bash bench/gpu_check.sh OUTDIR [PART...]                             # there, with .gpu and .whl carried
#
# Writes one text file per part into OUTDIR (each part has its own time limit, so one that hangs or fails
# does not stop the others): versions, ldm (CuPy against NumPy, and CuPy timings), train (one faithful
# S-CNN and K-CNN step per part on JAX), epochs (K-CNN test accuracy against epochs on real CIFAR-10
# images), e2e (tiny run_mnist.py runs on JAX with CuPy and on PyTorch, each twice with the same seed).
# Those five run by default. Named PARTs run alone; one more part, whole (the LDM-S query of the synthetic
# `large` and `huge` settings run to the end on CuPy, up to 4.5 minutes each), runs only when named.
set -uo pipefail
out=${1:?usage: bash bench/gpu_check.sh OUTDIR [PART...]}
shift
wanted=" ${*:-versions ldm e2e train epochs} "
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  || { echo "could not install the carried wheels in .whl"; exit 1; }
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 TQDM_DISABLE=1 KERAS_BACKEND=jax LDMS_XP=cupy

part() {  # part NAME SECONDS COMMAND...: run COMMAND with a time limit, its output into OUTDIR/NAME.txt
  local name=$1 limit=$2
  shift 2
  [[ $wanted == *" $name "* ]] || return 0
  echo "== $name (limit $limit s): $*"
  local started=$SECONDS
  timeout "$limit" "$@" > "$out/$name.txt" 2>&1
  local status=$?
  grep -v -e "^WARNING" -e "^I0000" -e "^E0000" -e "^W0000" "$out/$name.txt" | tail -40
  echo "== $name: exit $status after $((SECONDS - started)) s"
}

part versions 30 bash -c 'nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader;
  python3 -c "
import sys, numpy, scipy, cupy, jax, torch, keras
print(\"python\", sys.version.split()[0], \"numpy\", numpy.__version__, \"scipy\", scipy.__version__)
print(\"cupy\", cupy.__version__, \"devices\", cupy.cuda.runtime.getDeviceCount(),
      cupy.cuda.runtime.getDeviceProperties(0)[\"name\"].decode())
print(\"jax\", jax.__version__, jax.devices(), \"torch\", torch.__version__, torch.cuda.get_device_name(0))
print(\"keras\", keras.__version__, \"backend\", keras.backend.backend())
"'
part ldm 170 python3 bench/gpu_ldm.py --seeds 4 --max-seconds 15

tiny=(--nEpoch 2 --nStep 1 --nValid 500 --nPool 500 --nSample 500 --nQuery 10 --nRep 1 --data-dir .gpu)
part e2e 100 bash -c "
  for backend in jax torch; do
    for run in a b; do
      KERAS_BACKEND=\$backend python3 run_mnist.py ${tiny[*]} --out /tmp/e2e_\${backend}_\$run || echo \"\$backend run \$run failed\"
    done
    cmp /tmp/e2e_\${backend}_a/mnist_SCNN/test_accs_001.txt /tmp/e2e_\${backend}_b/mnist_SCNN/test_accs_001.txt \
      && echo \"\$backend: the same seed gave byte-identical test_accs_001.txt\"
    cat /tmp/e2e_\${backend}_a/mnist_SCNN/test_accs_001.txt
  done"
part train 150 python3 bench/gpu_train.py --data-dir .gpu
part epochs 100 python3 bench/cifar_epochs.py --subset .gpu/cifar_epochs.npz --seeds 0 1
part whole 590 python3 bench/gpu_ldm.py --check --time large huge --max-seconds 270
