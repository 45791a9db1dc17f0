"""Cost of checking a signature on load: `nbt.load` with and without `NBT_TRUSTED_KEYS`, interleaved.

A 100-tree random forest on iris, registered signed (EC P-256 key made here) in a fresh embedded
store; after one warm-up load of each kind (model-signing imported once), ROUNDS pairs of loads,
plain and verified alternating. Prints medians of wall and CPU time and the median paired
difference, then the parts of the check (the nbt/ download and staging, hashing and verifying) and
the one-off import of model-signing in a fresh process.
Run: .venv/bin/python benchmarks/signing.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

N = int(os.environ.get("ROUNDS", "30"))


def key_pair(folder: Path) -> tuple[Path, Path]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private, public = folder / "nbt-signing.pem", folder / "nbt-signing.pub"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="nbt-bench-signing-") as tmp:
        root = Path(tmp)
        os.environ["NBT_HOME"] = str(root / "home")
        for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "NBT_TRUSTED_KEYS"):
            os.environ.pop(var, None)
        private, public = key_pair(root)
        os.environ["NBT_SIGNING_KEY"] = str(private)

        import nbtoolkit as nbt
        from sklearn.datasets import load_iris
        from sklearn.ensemble import RandomForestClassifier

        X, y = load_iris(return_X_y=True, as_frame=True)
        mv = nbt.register(RandomForestClassifier(n_estimators=100, random_state=0).fit(X, y), "rf", X=X, y=y,
                          sign=True)
        ref = f"rf/{mv.version}"
        size = sum(p.stat().st_size for p in (root / "home" / "artifacts").rglob("model.skops"))

        def load(verified: bool) -> tuple[float, float]:
            if verified:
                os.environ["NBT_TRUSTED_KEYS"] = str(public)
            else:
                os.environ.pop("NBT_TRUSTED_KEYS", None)
            c, t = time.process_time(), time.perf_counter()
            nbt.load(ref)
            return time.perf_counter() - t, time.process_time() - c

        load(False), load(True)
        plain, checked = [], []
        for _ in range(N):
            plain.append(load(False))
            checked.append(load(True))
        med = statistics.median
        wall_p, wall_v = med(p[0] for p in plain), med(v[0] for v in checked)
        cpu_p, cpu_v = med(p[1] for p in plain), med(v[1] for v in checked)
        paired = med(v[0] - p[0] for p, v in zip(plain, checked))
        print(f"model.skops: {size / 1e6:.2f} MB, {N} interleaved pairs")
        print(f"nbt.load, no signature required: wall {1000 * wall_p:.0f} ms, CPU {1000 * cpu_p:.0f} ms")
        print(f"nbt.load, signature verified:    wall {1000 * wall_v:.0f} ms, CPU {1000 * cpu_v:.0f} ms")
        print(f"verify on load: +{1000 * paired:.0f} ms wall (median paired), +{1000 * (cpu_v - cpu_p):.0f} ms CPU "
              f"(x{wall_v / wall_p:.2f})")

        from nbtoolkit.registry import signing

        keys = signing.public_keys([public])
        version = nbt.registry.resolve(ref)
        parts: dict[str, list[float]] = {"stage (fetch nbt/, link files, tags)": [], "hash + verify": []}
        for _ in range(N):
            with tempfile.TemporaryDirectory() as work:
                model_dir = signing._download_model(version, Path(work, "model"))
                t = time.perf_counter()
                staged, bundle = signing.stage(version, model_dir, Path(work))
                parts["stage (fetch nbt/, link files, tags)"].append(time.perf_counter() - t)
                t = time.perf_counter()
                assert signing.verify_folder(str(staged), str(bundle), keys, "rf", str(version.version)).valid
                parts["hash + verify"].append(time.perf_counter() - t)
        for name, times in parts.items():
            print(f"  {name}: {1000 * med(times):.0f} ms")
    code = "import time; t = time.process_time(); import model_signing; print(time.process_time() - t)"
    imports = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
               for _ in range(3)]
    print(f"import model_signing, once per process: {1000 * med(imports):.0f} ms CPU")


if __name__ == "__main__":
    main()
