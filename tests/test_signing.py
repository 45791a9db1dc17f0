"""Signed versions (issue 20, item 2): real EC keys, a real store, the CLI, a real ``nbt serve``.

One store for the module: ``iris/1`` is a 100-tree random forest signed at registration with key A;
tests that change what is stored register their own versions. Keys: A made with the README's
one-line ``openssl`` command (when openssl is installed), B with ``cryptography``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_serve import Server, free_port, requests, split, wait_for

pytestmark = pytest.mark.xdist_group("signing")

VENV_BIN = Path(sys.executable).parent


def _ec_key_pair(folder: Path, name: str) -> tuple[Path, Path]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private, public = folder / f"{name}.pem", folder / f"{name}.pub"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


@pytest.fixture(scope="module")
def world(tmp_path_factory, _empty_mlflow_db, iris):
    from sklearn.ensemble import RandomForestClassifier

    from nbtoolkit.registry.signing import KEYGEN

    root = tmp_path_factory.mktemp("signing")
    home = root / "home"
    home.mkdir()
    shutil.copy(_empty_mlflow_db, home / "mlflow.db")
    keys = root / "keys"
    keys.mkdir()
    if shutil.which("openssl"):  # the README's command, as a user runs it
        subprocess.run(KEYGEN, shell=True, cwd=keys, check=True, capture_output=True)
        a = (keys / "nbt-signing.pem", keys / "nbt-signing.pub")
    else:  # pragma: no cover
        a = _ec_key_pair(keys, "nbt-signing")
    b = _ec_key_pair(keys, "other")
    mp = pytest.MonkeyPatch()
    mp.setenv("NBT_HOME", str(home))
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "NBT_PREDICTIONS_URL", "NBT_EXPERIMENT",
                "NBT_SIGNING_KEY", "NBT_TRUSTED_KEYS"):
        mp.delenv(var, raising=False)
    mp.chdir(root)
    import nbtoolkit as nbt

    X, y = iris
    mp.setenv("NBT_SIGNING_KEY", str(a[0]))
    forest = RandomForestClassifier(n_estimators=100, random_state=0).fit(X, y)
    v1 = nbt.register(forest, "iris", X=X, y=y, sign=True, alias="champion")
    mp.delenv("NBT_SIGNING_KEY")
    yield {"root": root, "home": home, "a": a, "b": b, "X": X, "y": y, "forest": forest, "v1": v1}
    mp.undo()


@pytest.fixture
def env(world, ip, monkeypatch):
    """Each test starts with no key in the environment, on the module's store (also for ``ip``)."""
    monkeypatch.setenv("NBT_HOME", str(world["home"]))
    for var in ("NBT_SIGNING_KEY", "NBT_TRUSTED_KEYS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(world["root"])
    return monkeypatch


def _register(world, *, sign: bool, C: float = 1.0) -> str:
    import nbtoolkit as nbt
    from sklearn.linear_model import LogisticRegression

    X, y = world["X"], world["y"]
    mv = nbt.register(LogisticRegression(C=C, max_iter=500).fit(X, y), "iris", X=X, y=y, sign=sign)
    return f"iris/{mv.version}"


def _run_files(world, ref: str) -> dict[str, Path]:
    """The stored files of a version in the artifact store: its run's nbt/* and its model folder."""
    import nbtoolkit as nbt
    from nbtoolkit.registry.lookup import logged_model_id

    mv = nbt.registry.resolve(ref)
    out = {}
    for p in (world["home"] / "artifacts").rglob("*"):
        if not p.is_file():
            continue
        if mv.run_id in p.parts and "nbt" in p.parts:
            out[f"nbt/{p.name}"] = p
        elif logged_model_id(mv) in p.parts:
            out[f"model/{p.name}"] = p
    assert "nbt/profile.json" in out and "model/model.skops" in out, sorted(out)
    return out


def _cli(*args: str, env_extra: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([str(VENV_BIN / "nbt"), *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=300)


# ------------------------------------------------------------------------------ sign and verify
def test_signed_at_register_verifies_and_loads_with_the_trusted_key(world, env):
    import nbtoolkit as nbt
    from nbtoolkit.registry.signing import SIGNATURE_ARTIFACT, TAG_SIGNED_BY, public_keys

    a_pub = world["a"][1]
    fingerprint = public_keys([a_pub])[0].fingerprint
    mv = nbt.registry.resolve("iris/1")
    assert mv.tags[TAG_SIGNED_BY] == fingerprint
    assert world["v1"].tags[TAG_SIGNED_BY] == fingerprint  # the returned version shows it too
    bundle = json.loads(nbt.registry.read_artifact_text(mv, SIGNATURE_ARTIFACT))
    assert bundle["mediaType"].startswith("application/vnd.dev.sigstore.bundle")  # model-signing's bundle

    result = nbt.verify("iris@champion", keys=str(a_pub))
    assert result.valid and result.signed and result.passed and bool(result)
    assert result.key == fingerprint and result.changes == []
    assert result.to_dict()["valid"] is True and "signature valid" in str(result)

    env.setenv("NBT_TRUSTED_KEYS", str(a_pub))
    model = nbt.load("iris/1")
    assert (model.predict(world["X"].head(5)) == world["forest"].predict(world["X"].head(5))).all()
    assert nbt.verify("iris/1").valid  # keys from NBT_TRUSTED_KEYS


def test_signing_later_from_the_cli_and_verify_exit_codes(world, env):
    import nbtoolkit as nbt
    from nbtoolkit.errors import IntegrityError

    a_key, a_pub = world["a"]
    ref = _register(world, sign=False)
    unsigned = nbt.verify(ref, keys=[str(a_pub)])
    assert not unsigned.signed and not unsigned.valid and "no signature" in unsigned.reason

    verified = _cli("model", "verify", ref, "--key", str(a_pub), env_extra={"NBT_HOME": str(world["home"])})
    assert verified.returncode == 1, verified.stderr
    assert "NOT SIGNED" in verified.stdout and len(verified.stderr.strip().splitlines()) == 1

    env.setenv("NBT_TRUSTED_KEYS", str(a_pub))
    with pytest.raises(IntegrityError, match=rf"{ref} is not signed .*`nbt model sign {ref}`"):
        nbt.load(ref)

    signed = _cli("model", "sign", ref, env_extra={"NBT_HOME": str(world["home"]), "NBT_SIGNING_KEY": str(a_key)})
    assert signed.returncode == 0, signed.stderr
    assert f"Signed {ref}" in signed.stdout and "file model/model.skops" in signed.stdout
    assert "tag  nbt.artifact_sha256" in signed.stdout and "nbt.threshold" not in signed.stdout

    verified = _cli("model", "verify", ref, "--format", "json",
                    env_extra={"NBT_HOME": str(world["home"]), "NBT_TRUSTED_KEYS": str(a_pub)})
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["valid"] is True
    nbt.load(ref)  # now accepted


def test_the_magics_register_sign_verify_and_require(world, env, ip):
    from nbtoolkit.registry.signing import TAG_SIGNED_BY

    a_key, a_pub = world["a"]
    ip.user_ns.update({"clf": world["forest"], "X": world["X"], "y": world["y"]})
    env.setenv("NBT_SIGNING_KEY", str(a_key))
    mv = ip.run_line_magic("nbt", "register clf --name iris --data X y --sign")
    ref = f"iris/{mv.version}"
    assert mv.tags[TAG_SIGNED_BY]
    result = ip.run_line_magic("nbt", f"model verify {ref} --key {a_pub}")
    assert result.valid and result.key == mv.tags[TAG_SIGNED_BY]
    again = ip.run_line_magic("nbt", f"sign {ref} --key {a_key}")
    assert again.key == mv.tags[TAG_SIGNED_BY] and "model/model.skops" in again.files
    assert "nbt/profile.json" in again.files and "nbt.threshold" not in again.tags
    env.setenv("NBT_TRUSTED_KEYS", str(a_pub))
    ip.run_line_magic("nbt", f"load {ref} --as m --require-signature")
    assert hasattr(ip.user_ns["m"], "predict")


def test_a_changed_file_is_refused_naming_the_file(world, env):
    import nbtoolkit as nbt
    from nbtoolkit.errors import IntegrityError

    env.setenv("NBT_SIGNING_KEY", str(world["a"][0]))
    ref = _register(world, sign=True, C=0.5)
    env.setenv("NBT_TRUSTED_KEYS", str(world["a"][1]))
    files = _run_files(world, ref)
    profile = json.loads(files["nbt/profile.json"].read_text())
    profile["n_rows"] = profile.get("n_rows", 0) + 1
    files["nbt/profile.json"].write_text(json.dumps(profile))

    with pytest.raises(IntegrityError) as caught:
        nbt.load(ref)
    message = str(caught.value)
    assert "\n" not in message
    assert f"{ref} does not match its signature: file nbt/profile.json changed since signing" in message
    with pytest.raises(IntegrityError, match="file nbt/profile.json changed"):
        nbt.drift(world["X"], model=ref, predictions=False)  # the stored profile is read, not the model
    with pytest.raises(IntegrityError, match="file nbt/profile.json changed"):
        nbt.validate(world["X"], model=ref)  # the stored contract: the same signature

    with open(files["model/model.skops"], "ab") as fh:  # the model file too: named, before its sha256
        fh.write(b"tampered")
    result = nbt.verify(ref)
    assert not result.valid and result.signed
    assert result.changes == ["file model/model.skops changed", "file nbt/profile.json changed"]
    with pytest.raises(IntegrityError, match="file model/model.skops changed, file nbt/profile.json changed"):
        nbt.load(ref)
    env.setenv("NBT_SIGNING_KEY", str(world["a"][0]))
    with pytest.raises(IntegrityError, match=rf"stored files of {ref} changed since registration .* refusing to sign"):
        nbt.sign(ref)  # signing again would vouch for the changed model file


def test_a_changed_tag_is_refused_naming_the_tag_and_later_decisions_are_not_covered(world, env):
    import nbtoolkit as nbt
    from nbtoolkit.errors import IntegrityError
    from nbtoolkit.registry import TAG_THRESHOLD, set_version_tag
    from nbtoolkit.registry.tags import TAG_TRUSTED, compare_tag

    env.setenv("NBT_SIGNING_KEY", str(world["a"][0]))
    ref = _register(world, sign=True, C=0.3)
    env.setenv("NBT_TRUSTED_KEYS", str(world["a"][1]))
    # written after registration on purpose: a saved threshold, a compare verdict (not covered)
    set_version_tag(ref, TAG_THRESHOLD, "0.8")
    set_version_tag(ref, compare_tag("iris", 1), "better")
    assert nbt.verify(ref).valid
    nbt.load(ref)

    trusted = nbt.registry.resolve(ref).tags[TAG_TRUSTED]
    set_version_tag(ref, TAG_TRUSTED, trusted.replace("]", ', "builtins.eval"]') if trusted != "[]" else
                    '["builtins.eval"]')
    with pytest.raises(IntegrityError, match=rf"{ref} does not match its signature: tag {TAG_TRUSTED} changed since"):
        nbt.load(ref)
    set_version_tag(ref, TAG_TRUSTED, trusted)  # put back: valid again
    assert nbt.verify(ref).valid

    set_version_tag(ref, "nbt.format", "cloudpickle")
    set_version_tag(ref, "nbt.extra", "1")
    set_version_tag(ref, "nbt." + "a/" * 119 + "a", "1")  # quoted, too long for a file name
    result = nbt.verify(ref)
    assert result.changes[:2] == ["tag nbt.extra added", "tag nbt.format changed"]
    assert result.changes[2].startswith("a tag with a long key (sha256-") and result.changes[2].endswith("...) added")


def test_a_signed_cloudpickle_version_loads_without_allow_unsafe_only_when_the_signature_is_trusted(world, env):
    """cloudpickle is refused by default (its format is a tag a writer of the store could set); a
    signature by a trusted key covers that tag, so such a version loads without NBT_ALLOW_UNSAFE."""
    import warnings

    import nbtoolkit as nbt
    from nbtoolkit.errors import IntegrityError
    from sklearn.linear_model import LogisticRegression

    env.delenv("NBT_ALLOW_UNSAFE", raising=False)
    env.setenv("NBT_SIGNING_KEY", str(world["a"][0]))
    X, y = world["X"], world["y"]
    mv = nbt.register(LogisticRegression(max_iter=500).fit(X, y), "pickled", X=X, y=y, sign=True,
                      serialization="cloudpickle")
    with pytest.raises(IntegrityError, match="NBT_ALLOW_UNSAFE=1"):
        nbt.load(f"pickled/{mv.version}")
    env.setenv("NBT_TRUSTED_KEYS", str(world["b"][1]))  # another key: still refused (not signed by it)
    with pytest.raises(IntegrityError, match="not a trusted key"):
        nbt.load(f"pickled/{mv.version}")
    env.setenv("NBT_TRUSTED_KEYS", str(world["a"][1]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = nbt.load(f"pickled/{mv.version}")
    assert (model.predict(X) == nbt.load("iris/1").predict(X)).mean() > 0.9


def test_a_signature_by_another_key_is_refused(world, env):
    import nbtoolkit as nbt
    from nbtoolkit.errors import IntegrityError
    from nbtoolkit.registry.signing import public_keys

    b_key, b_pub = world["b"]
    env.setenv("NBT_SIGNING_KEY", str(b_key))
    ref = _register(world, sign=True, C=0.2)
    env.setenv("NBT_TRUSTED_KEYS", str(world["a"][1]))
    b_fp = public_keys([b_pub])[0].fingerprint
    with pytest.raises(IntegrityError, match=rf"signed with key {b_fp[:16]}, which is not a trusted key"):
        nbt.load(ref)
    assert nbt.verify(ref, keys=str(b_pub)).valid  # B's own public key accepts it
    env.setenv("NBT_TRUSTED_KEYS", os.pathsep.join([str(world["a"][1]), str(b_pub)]))
    nbt.load(ref)  # either trusted key will do


def test_a_signature_copied_from_another_version_is_refused(world, env):
    """The bundle names key A (trusted) and verifies, but covers other files: the changes are named."""
    import nbtoolkit as nbt
    from nbtoolkit import store
    from nbtoolkit.errors import IntegrityError
    from nbtoolkit.registry.signing import SIGNATURE_ARTIFACT, TAG_SIGNED_BY

    ref = _register(world, sign=False, C=0.7)
    source = nbt.registry.resolve("iris/1")
    copied = world["root"] / "copied" / "signature.json"
    copied.parent.mkdir(exist_ok=True)
    copied.write_text(nbt.registry.read_artifact_text(source, SIGNATURE_ARTIFACT))
    target = nbt.registry.resolve(ref)
    store.client().log_artifact(target.run_id, str(copied), "nbt")
    store.client().set_model_version_tag(target.name, target.version, TAG_SIGNED_BY, source.tags[TAG_SIGNED_BY])
    env.setenv("NBT_TRUSTED_KEYS", str(world["a"][1]))
    with pytest.raises(IntegrityError, match="file model/model.skops changed"):
        nbt.load(ref)


# ------------------------------------------------------------------------------ bad keys
def _count_versions_and_runs(world) -> tuple[int, int, list[str]]:
    import nbtoolkit as nbt
    from nbtoolkit import store

    versions = len(nbt.versions("iris"))
    runs = len(store.client().search_runs([e.experiment_id for e in store.client().search_experiments()]))
    files = sorted(str(p.relative_to(world["home"])) for p in (world["home"] / "artifacts").rglob("*"))
    return versions, runs, files


@pytest.mark.parametrize("case", ["missing file", "a folder", "not a key", "a public key", "an RSA key",
                                  "an encrypted key", "empty variable"])
def test_a_bad_signing_key_is_one_line_and_nothing_is_written(world, env, case, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    import nbtoolkit as nbt
    from nbtoolkit.errors import BadInput

    path = tmp_path / "key.pem"
    if case == "a folder":
        path = tmp_path
    elif case == "not a key":
        path.write_text("hello, I am not a key\n")
    elif case == "a public key":
        path = world["a"][1]
    elif case == "an RSA key":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    elif case == "an encrypted key":
        key = ec.generate_private_key(ec.SECP256R1())
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.BestAvailableEncryption(b"pw")))
    if case != "empty variable":
        env.setenv("NBT_SIGNING_KEY", str(path))
    before = _count_versions_and_runs(world)
    expected = {"missing file": "Cannot read the signing key", "a folder": "Cannot read the signing key",
                "not a key": "is not a PEM private key", "a public key": "is not a PEM private key",
                "an RSA key": "is not an EC key (RSA); model signing takes EC P-256",
                "an encrypted key": "is encrypted",
                "empty variable": "No signing key: set NBT_SIGNING_KEY"}[case]
    with pytest.raises(BadInput) as caught:
        nbt.register(world["forest"], "iris", X=world["X"], y=world["y"], sign=True)
    assert expected in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(BadInput, match=re.escape(expected)):
        nbt.sign("iris/1")
    assert _count_versions_and_runs(world) == before


def test_a_bad_trusted_key_or_no_key_is_one_line(world, env, ip):
    import nbtoolkit as nbt
    from IPython.core.error import UsageError

    from nbtoolkit.errors import BadInput

    bad = world["root"] / "bad.pub"
    bad.write_text("not a key")
    env.setenv("NBT_TRUSTED_KEYS", str(bad))
    with pytest.raises(BadInput, match="is not a PEM public key"):
        nbt.load("iris/1")
    env.setenv("NBT_TRUSTED_KEYS", str(world["a"][0]))  # the private half by mistake
    with pytest.raises(BadInput, match="that is the private key"):
        nbt.load("iris/1")
    env.delenv("NBT_TRUSTED_KEYS")
    with pytest.raises(BadInput, match="no public key is trusted; set NBT_TRUSTED_KEYS"):
        nbt.load("iris/1", require_signature=True)
    with pytest.raises(BadInput, match="No public key to verify with"):
        nbt.verify("iris/1")
    with pytest.raises(BadInput, match="require_signature must be True or False"):
        nbt.load("iris/1", require_signature="yes")
    with pytest.raises(BadInput, match="sign must be True or False"):
        nbt.register(world["forest"], "iris", sign="yes")
    ip.run_line_magic("config", "Nbt.require_signature = True")
    try:
        with pytest.raises(UsageError, match="no public key is trusted"):
            ip.run_line_magic("nbt", "load iris/1")
    finally:
        ip.run_line_magic("config", "Nbt.require_signature = False")


# ------------------------------------------------------------------------------ every load path
def test_an_unsigned_version_is_refused_on_load_evaluate_and_drift(world, env, ip):
    from IPython.core.error import UsageError

    import nbtoolkit as nbt
    from nbtoolkit.errors import IntegrityError

    ref = _register(world, sign=False, C=0.05)
    X, y = world["X"], world["y"]
    ip.user_ns.update({"X": X, "y": y})
    # --require-signature needs trusted keys; here they come from the environment
    env.setenv("NBT_TRUSTED_KEYS", str(world["a"][1]))
    with pytest.raises(IntegrityError, match="is not signed"):
        nbt.evaluate(ref, X, y)
    for line in (f"load {ref}", f"evaluate {ref} X y", f"drift X --model {ref}",
                 f"data drift X --model {ref} --no-plot"):
        with pytest.raises(UsageError, match=f"Model version {ref} is not signed"):
            ip.run_line_magic("nbt", line)
    ip.run_line_magic("nbt", "evaluate iris/1 X y")  # a signed one passes

    # the flag alone (no NBT_TRUSTED_KEYS in the process: the flag asks, the environment gives keys)
    env.delenv("NBT_TRUSTED_KEYS")
    ip.run_line_magic("nbt", f"evaluate {ref} X y")  # not required: accepted
    with pytest.raises(UsageError, match="no public key is trusted"):
        ip.run_line_magic("nbt", f"evaluate {ref} X y --require-signature")

    current = world["root"] / "current.csv"
    X.to_csv(current, index=False)
    base = {"NBT_HOME": str(world["home"])}
    # a cold CLI: the model is loaded by the helper process, after the check in this one
    trusted = {**base, "NBT_TRUSTED_KEYS": str(world["a"][1])}
    refused = _cli("data", "drift", str(current), "--model", ref, env_extra=trusted)
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.strip().splitlines() == [
        f"nbt data drift: Model version {ref} is not signed and a signature is required (NBT_TRUSTED_KEYS / "
        f"--require-signature); refusing to use it. Sign it with `nbt model sign {ref}`."]
    flagged = _cli("data", "drift", str(current), "--model", ref, "--require-signature", env_extra=base)
    assert flagged.returncode == 2 and "no public key is trusted" in flagged.stderr
    accepted = _cli("data", "drift", str(current), "--model", "iris/1", "--format", "json", env_extra=trusted)
    assert accepted.returncode == 0, accepted.stderr
    assert json.loads(accepted.stdout)["drifted"] is False


# ------------------------------------------------------------------------------ nbt serve
def test_serve_starts_on_a_signed_version_and_never_swaps_to_an_unverifiable_one(world, env):
    import nbtoolkit as nbt

    a_key, a_pub = world["a"]
    unsigned = _register(world, sign=False, C=0.9)
    serve_env = dict(os.environ, NBT_HOME=str(world["home"]), NBT_TRUSTED_KEYS=str(a_pub))
    srv = Server(["iris", "--poll", "0.2"], serve_env, world["root"] / "serve.log").wait_ready()
    try:
        health = requests.get(f"{srv.url}/health", timeout=5).json()
        assert health["serving"]["champion"]["version"] == "1" and not health["problems"]
        version = unsigned.split("/")[1]
        nbt.promote("iris", version, alias="champion")

        def refused():
            body = requests.get(f"{srv.url}/health", timeout=5).json()
            return [p for p in body["problems"] if f"version {version}, which was refused" in p] and body

        health = wait_for(refused, "the unsigned version to be refused in /health")
        problem = next(p for p in health["problems"] if "which was refused" in p)
        assert f"Model version iris/{version} is not signed" in problem and "still serving version 1" in problem
        assert health["serving"]["champion"]["version"] == "1"
        answer = requests.post(f"{srv.url}/invocations", json=split(world["X"].head(3)), timeout=30).json()
        assert {p["model_version"] for p in answer["predictions"]} == {"1"}

        env.setenv("NBT_SIGNING_KEY", str(a_key))
        nbt.sign(unsigned)  # its tags change: the server tries it again, and it verifies now

        def swapped():
            body = requests.get(f"{srv.url}/health", timeout=5).json()
            return body["serving"]["champion"]["version"] == version and not body["problems"] and body

        wait_for(swapped, "the now-signed version to be served")

        tampered = _register(world, sign=True, C=0.6)
        files = _run_files(world, tampered)
        files["nbt/contract.json"].write_text(files["nbt/contract.json"].read_text().replace("sepal", "Sepal"))
        nbt.promote("iris", tampered.split("/")[1], alias="champion")
        health = wait_for(lambda: (lambda b: b["problems"] and b)(requests.get(f"{srv.url}/health", timeout=5).json()),
                          "the tampered version to be refused")
        assert "file nbt/contract.json changed since signing" in health["problems"][0]
        assert health["serving"]["champion"]["version"] == version
    finally:
        code = srv.stop()
    assert code == 0, srv.output()


def test_serve_refuses_to_start_on_an_unverifiable_version(world, env, capsys):
    from nbtoolkit.cli import main

    ref = _register(world, sign=False, C=0.4)
    import nbtoolkit as nbt

    nbt.promote("iris", ref.split("/")[1], alias="staging")
    env.setenv("NBT_TRUSTED_KEYS", str(world["a"][1]))
    assert main(["serve", "iris", "--champion", "staging", "--port", str(free_port())]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"nbt serve: Model version {ref} is not signed and a signature is required (NBT_TRUSTED_KEYS / "
                   f"--require-signature); refusing to use it. Sign it with `nbt model sign {ref}`."]
    env.delenv("NBT_TRUSTED_KEYS")
    assert main(["serve", "iris", "--champion", "staging", "--port", str(free_port()), "--require-signature"]) == 2
    assert "no public key is trusted" in capsys.readouterr().err
