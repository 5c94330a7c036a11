"""Which BLAS this PyTorch really calls, and whether it is an optimised one.

Rule: the PyTorch baseline of the benchmarks is only fair with an optimised BLAS (OpenBLAS, MKL,
BLIS). Debian's python3-torch is built with BLAS_INFO=generic and calls whatever
libblas.so.3 resolves to through update-alternatives; with only libblas3 installed that is the
netlib reference BLAS, about 30x slower at float32 matmul. Which library is mapped is not enough
(LAPACK may pull in OpenBLAS beside a reference libblas), so we ask the dynamic linker which file
provides the `sgemm_` that libtorch_cpu resolves (dlsym on its handle, then dladdr), resolve it with
realpath (Debian's alternatives are symlinks) and name it. Builds that link their BLAS statically
(MKL in pip wheels) fall back to torch.__config__.show().

Threads: OpenBLAS's pthread build ignores torch.set_num_threads and starts one thread per core,
so pin_threads() sets the usual environment variables before torch is imported, and
blas_info() reports the thread count the library says it will use.

    /usr/bin/python3 bench/torch_blas.py [--threads 1]    # prints one JSON object
"""

import argparse
import ctypes
import json
import os
import re
import sys

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")
LIBBLAS_LINK = "/usr/lib/x86_64-linux-gnu/libblas.so.3"
# Fragment of a library's folder/file name -> (name, optimised). The first match wins, so a bare
# "libblas" (netlib's reference implementation) only names what no optimised library claims.
KINDS = (
    ("openblas", "OpenBLAS", True),
    ("mkl", "MKL", True),
    ("blis", "BLIS", True),
    ("atlas", "ATLAS", True),
    ("libblas", "reference BLAS (netlib)", False),
)


def pin_threads(n):
    """Call before importing torch: every BLAS/OpenMP runtime uses n threads."""
    for name in THREAD_VARIABLES:
        os.environ[name] = str(n)


def mapped_libraries():
    """Realpaths of the BLAS-like and libtorch shared libraries mapped into this process."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if ".so" in line}
    except OSError:
        return []
    pattern = re.compile(r"blas|mkl|blis|atlas|libtorch_cpu")
    keep = [p for p in paths if p.startswith("/") and pattern.search(os.path.basename(p))]
    return sorted({os.path.realpath(p) for p in keep})


def openblas_details(path):
    """Version string, CPU kernel and thread count from OpenBLAS itself (it exports them)."""
    try:
        lib = ctypes.CDLL(path)
        lib.openblas_get_config.restype = ctypes.c_char_p
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return {
            "config": lib.openblas_get_config().decode(),
            "core": lib.openblas_get_corename().decode(),
            "threads": lib.openblas_get_num_threads(),
        }
    except (OSError, AttributeError):
        return {}


class _DlInfo(ctypes.Structure):
    _fields_ = [("fname", ctypes.c_char_p), ("fbase", ctypes.c_void_p), ("sname", ctypes.c_char_p),
                ("saddr", ctypes.c_void_p)]


def sgemm_provider(libraries):
    """Realpath of the library whose sgemm_ libtorch binds to, or None (static or not found)."""
    torch_libs = [p for p in libraries if os.path.basename(p).startswith("libtorch_cpu")]
    try:
        handle = ctypes.CDLL(torch_libs[0] if torch_libs else None)
        address = ctypes.cast(handle.sgemm_, ctypes.c_void_p)
        info = _DlInfo()
        if ctypes.CDLL(None).dladdr(address, ctypes.byref(info)) == 0 or not info.fname:
            return None
        return os.path.realpath(info.fname.decode())
    except (OSError, AttributeError, IndexError):
        return None


def classify(path):
    """(name, optimised) of a BLAS library from its file and folder names (Debian puts each
    implementation in its own folder: openblas-pthread/libblas.so.3, blas/libblas.so.3)."""
    where = "/".join(path.split("/")[-2:]).lower()
    for fragment, name, optimised in KINDS:
        if fragment in where:
            return name, optimised
    return f"unknown ({where})", False


def blas_info():
    """Describe the BLAS of the imported torch. Call after `import torch`."""
    import torch

    torch.mm(torch.ones(2, 2), torch.ones(2, 2))  # make sure the BLAS is loaded and initialised
    mapped = mapped_libraries()
    build = torch.__config__.show()
    build_blas = (re.search(r"BLAS_INFO=(\w+)", build) or [None, "unknown"])[1]
    provider = sgemm_provider(mapped)
    info = {
        "torch": torch.__version__,
        "buildBlas": build_blas,
        "library": provider,
        "mapped": [p for p in mapped if not os.path.basename(p).startswith("libtorch")],
        "libblasAlternative": os.path.realpath(LIBBLAS_LINK) if os.path.exists(LIBBLAS_LINK) else None,
        "torchThreads": torch.get_num_threads(),
    }
    if provider and not os.path.basename(provider).startswith("libtorch"):
        name, optimised = classify(provider)
    else:
        # Linked into libtorch itself (pip wheels carry MKL that way): trust the build record.
        static = {"mkl": "MKL (linked into torch)", "open": "OpenBLAS (linked into torch)"}
        name = static.get(build_blas, f"unidentified (BLAS_INFO={build_blas})")
        optimised = build_blas in static
    info.update(name=name, optimised=optimised)
    if name == "OpenBLAS":
        core = next((p for p in mapped if "openblas" in os.path.basename(p)), provider)
        info.update(openblas_details(core))
    return info


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    pin_threads(args.threads)
    try:
        import torch
    except ImportError:
        print(f"PyTorch is not installed for {sys.executable}: apt-get install python3-torch libopenblas0-pthread "
              "(or set BENCH_PYTHON to a python with PyTorch)", file=sys.stderr)
        sys.exit(3)
    torch.set_num_threads(args.threads)
    print(json.dumps(blas_info()))


if __name__ == "__main__":
    main()
