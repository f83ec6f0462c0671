"""What the backend tests share: the repository root, and a framework or a skip."""

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FRAMEWORKS = ("torch", "tensorflow", "jax")


@pytest.fixture(autouse=True)
def at_repo_root(monkeypatch):
    # Case files name user code as cases.custom.module:function, importable from here.
    monkeypatch.chdir(REPO)


def need(framework):
    """Skip unless the framework imports; TensorFlow through the quiet import, as gradcheck does."""
    pytest.importorskip(framework)
    if framework == "tensorflow":
        from gradcheck.backends.tensorflow_backend import import_tensorflow

        return import_tensorflow()
    return sys.modules[framework]
