"""The one settings object (``inferlearn.config.Settings``): every variable listed, in README,
read through it (``.env`` included), bad values named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from inferlearn import config
from inferlearn.course.layout import find_root
from inferlearn.data import data_dir

REPO = Path(__file__).resolve().parent.parent
NAME = re.compile(r"\bINFERLEARN_[A-Z][A-Z_]*[A-Z]\b")
# reading a variable from the process environment (writing one for a child process is fine)
ENV_READ = re.compile(r"""(os\.environ\.get|os\.getenv)\(\s*["'](INFERLEARN_|OPENAI_)"""
                      r"""|os\.environ\[["'](INFERLEARN_|OPENAI_)[A-Z_]+["']\](?!\s*=)""")


def test_readme_settings_table_is_the_settings_object():
    readme = (REPO / "README.md").read_text()
    assert config.settings_table() in readme, (
        "README's Settings table differs from inferlearn.config.Settings; paste the output of "
        "`python -c \"from inferlearn.config import settings_table; print(settings_table())\"`")


def test_every_variable_the_code_names_is_a_setting():
    files = [*REPO.glob("inferlearn/**/*.py"), *REPO.glob("tests/**/*.py"),
             *REPO.glob("benchmarks/*.py"), REPO / "Makefile"]
    named = {m for f in files for m in NAME.findall(f.read_text())}
    unknown = sorted(named - set(config.ENV_NAMES))
    assert not unknown, f"add these to inferlearn.config.Settings (and README): {unknown}"


def test_the_library_reads_no_setting_from_os_environ():
    found = [f"{p.relative_to(REPO)}:{n}: {line.strip()}"
             for p in sorted((REPO / "inferlearn").rglob("*.py")) if p.name != "config.py"
             for n, line in enumerate(p.read_text().splitlines(), 1) if ENV_READ.search(line)]
    assert not found, "read these through inferlearn.config.settings():\n" + "\n".join(found)


@pytest.fixture
def dotenv(tmp_path, monkeypatch):
    """A folder with a ``.env`` file, made current, with ``.env`` not loaded yet."""
    def write(**values: str) -> Path:
        (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        for name in values:  # set then delete: the test's end restores "unset"
            monkeypatch.setenv(name, "x")
            monkeypatch.delenv(name)
        monkeypatch.chdir(tmp_path)
        monkeypatch.setattr(config, "_ENV_LOADED", False)
        return tmp_path
    return write


def test_dotenv_counts_for_data_and_course_root(dotenv, tmp_path):
    (tmp_path / "mydata").mkdir()
    dotenv(INFERLEARN_DATA=str(tmp_path / "mydata"), INFERLEARN_COURSE_ROOT=str(tmp_path))
    assert data_dir() == tmp_path / "mydata"
    assert find_root() == tmp_path.resolve()


def test_a_variable_already_set_wins_over_dotenv(dotenv, monkeypatch):
    dotenv(INFERLEARN_CHAOS="error_rate=1")
    monkeypatch.setenv("INFERLEARN_CHAOS", "error_rate=0.5")
    assert config.settings().chaos == "error_rate=0.5"


def test_the_sandbox_variable_never_comes_from_dotenv(dotenv):
    dotenv(INFERLEARN_SANDBOX='{"limits": {}}', INFERLEARN_APP_KEYS="k=web")
    assert config.settings().app_keys == "k=web"
    assert config.settings().sandbox is None


def test_a_bad_value_is_one_line_naming_the_variable(monkeypatch):
    monkeypatch.setenv("INFERLEARN_LLM_THREADS", "two")
    with pytest.raises(ValueError) as caught:
        config.settings()
    assert "INFERLEARN_LLM_THREADS='two'" in str(caught.value) and "\n" not in str(caught.value)


def test_settings_follow_a_changed_environment(monkeypatch):
    monkeypatch.setenv("INFERLEARN_IDLE_TIMEOUT", "30")
    assert config.settings().idle_timeout == 30.0
    monkeypatch.setenv("INFERLEARN_IDLE_TIMEOUT", "45")
    assert config.settings().idle_timeout == 45.0
    monkeypatch.setenv("INFERLEARN_CACHE", "~/elsewhere")
    assert config.cache_dir() == Path.home() / "elsewhere"


def test_setting_by_name_and_unknown_names(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert config.setting("OPENAI_API_KEY") == "sk-test"
    assert "sk-test" not in repr(config.settings())
    monkeypatch.delenv("INFERLEARN_REGISTRY", raising=False)
    assert config.setting("INFERLEARN_REGISTRY", "default") == "default"
    with pytest.raises(KeyError, match="not an inferlearn setting"):
        config.setting("INFERLEARN_" + "NOPE")  # split: the name scan above must not see it
