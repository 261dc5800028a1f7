import pytest

from .bundles import build_linear_bundle, build_tiny_bundle, make_test_images

gr = pytest.importorskip("gnuradio.gr")


@pytest.fixture(scope="session")
def linear_bundle(tmp_path_factory):
    pytest.importorskip("onnx")
    return str(build_linear_bundle(tmp_path_factory.mktemp("linear_bundle")))


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory):
    pytest.importorskip("torch")
    return str(build_tiny_bundle(tmp_path_factory.mktemp("tiny_bundle")))


@pytest.fixture(scope="session")
def test_images():
    return make_test_images(6)
