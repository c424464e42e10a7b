"""A minimal PEP 517 / PEP 660 build backend for the graft package, using the
standard library only (so `pip install ./python` needs no download).

It builds:
  * a wheel holding graft/*.py (and, when asked, a copy of libgraft.so.1),
  * an editable wheel (PEP 660) holding a .pth file that points at this
    source folder,
  * an sdist of pyproject.toml, build_backend/, graft/, tests/ and tools/
    (gen_api.py, which writes graft/_api.py from graft.h, and the header
    parser the tests share with it).

Metadata (name, version, description, requires-python, licence) comes from
pyproject.toml's [project] table; the version must equal
graft/_version.py's __version__.

A library copy is bundled when config_settings has "bundle-library" or the
environment has GRAFT_BUNDLE_LIBRARY (a path to libgraft.so.1), or when
graft/libgraft.so.1 exists in the source folder. The wheel is then tagged
py3-none-<platform>.
"""

import base64
import hashlib
import io
import os
import re
import sysconfig
import tarfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "graft"
SONAME = "libgraft.so.1"
# A fixed timestamp makes the archives reproducible.
_EPOCH = (1980, 1, 1, 0, 0, 0)


# ---- metadata ------------------------------------------------------------------


def _read_project():
    """The [project] table of pyproject.toml as a dict of strings."""
    path = os.path.join(ROOT, "pyproject.toml")
    try:
        import tomllib  # Python 3.11+
    except ImportError:
        tomllib = None
    if tomllib is not None:
        with open(path, "rb") as f:
            project = tomllib.load(f).get("project", {})
        license_ = project.get("license", {})
        if isinstance(license_, dict):
            project["license"] = license_.get("text", "")
        return project
    # Older Pythons: the simple `key = "value"` lines of [project] suffice.
    project, section = {}, None
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line.startswith("["):
                section = line.strip("[]")
                continue
            m = re.match(r'^([A-Za-z-]+)\s*=\s*(.*)$', line)
            if section == "project" and m:
                value = m.group(2)
                text = re.search(r'"([^"]*)"', value)
                project[m.group(1)] = text.group(1) if text else value
    return project


def _package_version():
    with open(os.path.join(ROOT, PACKAGE, "_version.py"), encoding="utf-8") as f:
        m = re.search(r'^__version__\s*=\s*"([^"]+)"', f.read(), re.M)
    return m.group(1) if m else None


def _metadata():
    project = _read_project()
    name, version = project.get("name"), project.get("version")
    if name != PACKAGE or not version:
        raise RuntimeError("pyproject.toml must give [project] name = \"graft\" and a version")
    pv = _package_version()
    if pv != version:
        raise RuntimeError("pyproject.toml says version %s but graft/_version.py says %s"
                           % (version, pv))
    lines = [
        "Metadata-Version: 2.1",
        "Name: %s" % name,
        "Version: %s" % version,
        "Summary: %s" % project.get("description", ""),
        "Requires-Python: %s" % project.get("requires-python", ">=3"),
        "License: %s" % project.get("license", ""),
    ]
    return name, version, "\n".join(lines) + "\n"


# ---- archive helpers -------------------------------------------------------------


def _record_hash(data):
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class _Wheel:
    """Writes a wheel: files, then the dist-info with RECORD last."""

    def __init__(self, path):
        self.zip = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED)
        self.records = []

    def add(self, arcname, data, mode=0o644):
        info = zipfile.ZipInfo(arcname, date_time=_EPOCH)
        info.external_attr = (0o100000 | mode) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        self.zip.writestr(info, data)
        self.records.append("%s,%s,%d" % (arcname, _record_hash(data), len(data)))

    def close(self, dist_info):
        record = dist_info + "/RECORD"
        text = "\n".join(self.records + [record + ",,"]) + "\n"
        info = zipfile.ZipInfo(record, date_time=_EPOCH)
        info.external_attr = 0o100644 << 16
        self.zip.writestr(info, text)
        self.zip.close()


def _package_files():
    """(arcname, path) of every module of the package, sorted."""
    found = []
    base = os.path.join(ROOT, PACKAGE)
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for fn in sorted(filenames):
            if fn.endswith(".py"):
                path = os.path.join(dirpath, fn)
                found.append((os.path.relpath(path, ROOT).replace(os.sep, "/"), path))
    return found


def _bundled_library(config_settings):
    path = (config_settings or {}).get("bundle-library") or os.environ.get(
        "GRAFT_BUNDLE_LIBRARY")
    if path:
        path = os.path.realpath(path)
        if not os.path.isfile(path):
            raise RuntimeError("bundle-library / GRAFT_BUNDLE_LIBRARY: no file %s" % path)
        return path
    inside = os.path.join(ROOT, PACKAGE, SONAME)
    return os.path.realpath(inside) if os.path.isfile(inside) else None


def _platform_tag():
    return re.sub(r"[^A-Za-z0-9]", "_", sysconfig.get_platform())


def _dist_info_files(name, version, metadata, purelib, tag):
    dist_info = "%s-%s.dist-info" % (name, version)
    wheel = ("Wheel-Version: 1.0\nGenerator: graft_build\nRoot-Is-Purelib: %s\nTag: %s\n"
             % ("true" if purelib else "false", tag))
    return dist_info, [
        (dist_info + "/METADATA", metadata.encode("utf-8")),
        (dist_info + "/WHEEL", wheel.encode("utf-8")),
        (dist_info + "/top_level.txt", (PACKAGE + "\n").encode("utf-8")),
    ]


# ---- PEP 517 hooks -------------------------------------------------------------


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    name, version, metadata = _metadata()
    purelib = _bundled_library(config_settings) is None
    tag = "py3-none-" + ("any" if purelib else _platform_tag())
    dist_info, files = _dist_info_files(name, version, metadata, purelib, tag)
    os.makedirs(os.path.join(metadata_directory, dist_info), exist_ok=True)
    for arcname, data in files:
        with open(os.path.join(metadata_directory, arcname), "wb") as f:
            f.write(data)
    return dist_info


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name, version, metadata = _metadata()
    library = _bundled_library(config_settings)
    purelib = library is None
    plat = "any" if purelib else _platform_tag()
    filename = "%s-%s-py3-none-%s.whl" % (name, version, plat)
    dist_info, info_files = _dist_info_files(name, version, metadata, purelib,
                                             "py3-none-" + plat)
    w = _Wheel(os.path.join(wheel_directory, filename))
    try:
        for arcname, path in _package_files():
            with open(path, "rb") as f:
                w.add(arcname, f.read())
        if library is not None:
            with open(library, "rb") as f:
                w.add("%s/%s" % (PACKAGE, SONAME), f.read(), mode=0o755)
        for arcname, data in info_files:
            w.add(arcname, data)
    finally:
        w.close(dist_info)
    return filename


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    name, version, metadata = _metadata()
    filename = "%s-%s-0.editable-py3-none-any.whl" % (name, version)
    dist_info, info_files = _dist_info_files(name, version, metadata, True, "py3-none-any")
    w = _Wheel(os.path.join(wheel_directory, filename))
    try:
        w.add("_graft_editable.pth", (ROOT + "\n").encode("utf-8"))
        for arcname, data in info_files:
            w.add(arcname, data)
    finally:
        w.close(dist_info)
    return filename


def build_sdist(sdist_directory, config_settings=None):
    name, version, metadata = _metadata()
    base = "%s-%s" % (name, version)
    filename = base + ".tar.gz"
    members = [("pyproject.toml", os.path.join(ROOT, "pyproject.toml"))]
    for sub in ("build_backend", PACKAGE, "tests", "tools"):
        top = os.path.join(ROOT, sub)
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for fn in sorted(filenames):
                if fn.endswith(".py"):
                    path = os.path.join(dirpath, fn)
                    members.append((os.path.relpath(path, ROOT).replace(os.sep, "/"), path))

    def add_bytes(tar, arcname, data):
        info = tarfile.TarInfo(arcname)
        info.size = len(data)
        info.mode = 0o644
        info.mtime = 315532800  # 1980-01-01
        tar.addfile(info, io.BytesIO(data))

    with tarfile.open(os.path.join(sdist_directory, filename), "w:gz",
                      format=tarfile.PAX_FORMAT) as tar:
        add_bytes(tar, base + "/PKG-INFO", metadata.encode("utf-8"))
        for arcname, path in members:
            with open(path, "rb") as f:
                add_bytes(tar, base + "/" + arcname, f.read())
    return filename
