"""The CMake out-of-tree install: configure, build, install into a temporary prefix, import from it."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

HAS_GR_CMAKE = any(Path("/usr/lib").glob("*/cmake/gnuradio/GnuradioConfig.cmake")) or \
    any(Path("/usr/local/lib").glob("**/cmake/gnuradio/GnuradioConfig.cmake"))
pytestmark = [pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake not installed"),
              pytest.mark.skipif(not HAS_GR_CMAKE, reason="GNU Radio's CMake package (gnuradio-dev) not installed")]


def run(cmd, **kw):
    res = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300, **kw)
    assert res.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cmake")
    build, prefix = tmp / "build", tmp / "prefix"
    # snapshot of what must be installed, taken before configuring (others may add files later)
    py_files = {p.relative_to(REPO).as_posix() for p in (REPO / "gr_semcod").rglob("*.py")
                if "__pycache__" not in p.parts}
    grc_files = sorted(p.name for p in (REPO / "grc").glob("*.block.yml"))
    flowgraphs = sorted(p.name for p in (REPO / "flowgraphs").glob("*.grc"))
    run(["cmake", "-S", REPO, "-B", build, f"-DCMAKE_INSTALL_PREFIX={prefix}",
         f"-DPython3_EXECUTABLE={sys.executable}"])
    run(["cmake", "--build", build])
    run(["cmake", "--install", build])
    return {"prefix": prefix, "tmp": tmp, "py_files": py_files, "grc_files": grc_files,
            "flowgraphs": flowgraphs}


def package_dirs(prefix: Path):
    return [p.parent for p in prefix.rglob("gr_semcod/__init__.py")]


def test_python_package_lands_in_one_python_dir(installed):
    prefix = installed["prefix"]
    pkgs = package_dirs(prefix)
    assert len(pkgs) == 1, pkgs
    pkg = pkgs[0]
    rel = pkg.parent.relative_to(prefix).as_posix()
    # a prefix unknown to the interpreter gets lib/pythonX.Y/site-packages (GR's venv scheme)
    assert rel == f"lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages", rel
    installed_py = {p.relative_to(pkg.parent).as_posix() for p in pkg.rglob("*.py")}
    missing = installed["py_files"] - installed_py
    assert not missing, f"not installed: {sorted(missing)}"
    assert "gr_semcod/runtime/bundle.py" in installed_py
    assert not list(pkg.rglob("__pycache__/*.py")), "source caches must not be installed as modules"


def test_installed_package_imports_from_the_prefix(installed):
    prefix = installed["prefix"]
    pydir = package_dirs(prefix)[0].parent
    workdir = installed["tmp"] / "elsewhere"
    workdir.mkdir(exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(pydir))
    code = (
        "import sys, gr_semcod, gr_semcod.runtime;"
        "print(gr_semcod.__file__); print(gr_semcod.runtime.__file__); print(gr_semcod.__version__);"
        "assert 'torch' not in sys.modules"
    )
    res = run([sys.executable, "-c", code], cwd=workdir, env=env)
    pkg_file, runtime_file, version = res.stdout.split()
    for f in (pkg_file, runtime_file):
        assert Path(f).resolve().is_relative_to(prefix.resolve()), f"{f} not under {prefix}"
    assert not Path(pkg_file).resolve().is_relative_to(REPO)
    import gr_semcod

    assert version == gr_semcod.__version__


def test_grc_yaml_and_flowgraphs_are_installed(installed):
    prefix = installed["prefix"]
    blocks = prefix / "share" / "gnuradio" / "grc" / "blocks"
    for name in installed["grc_files"]:
        assert (blocks / name).is_file(), f"grc/{name} not installed under {blocks}"
        assert (blocks / name).read_bytes() == (REPO / "grc" / name).read_bytes()
    stray = sorted(p.name for p in blocks.glob("*") if p.name not in installed["grc_files"]) if blocks.exists() else []
    assert not stray, f"unexpected files in {blocks}: {stray}"
    fg = prefix / "share" / "gr-semcod" / "flowgraphs"
    for name in installed["flowgraphs"]:
        assert (fg / name).is_file(), f"flowgraphs/{name} not installed under {fg}"


def test_python_dir_rule_for_system_prefixes(tmp_path):
    """For /usr the package goes where GNU Radio itself lives (when this Python has GR)."""
    try:
        import gnuradio
    except ImportError:
        pytest.skip("GNU Radio bindings not importable")
    gr_site = Path(gnuradio.__file__).resolve().parent.parent
    gr_prefix = gr_site.parents[2] if gr_site.parts[-3] == "lib" else None  # <prefix>/lib/python3*/dist-packages
    if gr_prefix is None:
        pytest.skip(f"unusual GNU Radio location {gr_site}")
    res = run(["cmake", "-S", REPO, "-B", tmp_path / "b", f"-DCMAKE_INSTALL_PREFIX={gr_prefix}",
               f"-DPython3_EXECUTABLE={sys.executable}"])
    line = next(ln for ln in res.stdout.splitlines() if "Python package ->" in ln)
    assert line.split("->")[1].strip() == str(gr_site / "gr_semcod"), line
