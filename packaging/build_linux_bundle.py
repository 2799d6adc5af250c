"""Build a relocatable Linux bundle of the OARN node: its own Python, the app, anvil, an installer.

Briefcase cannot build Linux installers offline (it clones its templates from GitHub and downloads
standalone Python builds), so this script builds the same app from the same merged config
(`packaging/briefcase_config.py`) without any download:

    python packaging/build_linux_bundle.py [--out dist] [--deps env|pip] [--wheelhouse DIR]

Layout of `oarn-<version>-linux-<arch>/`:
    bin/oarn            launcher (sets LD_LIBRARY_PATH, ignores the user's PYTHONPATH/site)
    python/             a copy of the building interpreter's prefix (stdlib, libpython),
                        with the app and its dependencies in python/lib/pythonX.Y/site-packages
    python/lib/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil
                        where `oarn_tui.chain.anvil.find_anvil` looks (sys.prefix/lib/node_modules)
    share/              desktop entry and icons
    install.sh          copies the bundle to a prefix and links `<prefix>/bin/oarn`

`--deb` also wraps the bundle as a Debian package (`/opt/oarn`, `/usr/bin/oarn`, a desktop entry)
with `dpkg-deb`; it is relocatable too, so `dpkg-deb -x` into any directory works.

`--deps env` copies the installed dependency closure of oarn-tui from the building environment
(offline, fast); `--deps pip` installs it from the package index or `--wheelhouse`.
"""

from __future__ import annotations

import argparse
import importlib.metadata as metadata
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

sys.path.insert(0, str(Path(__file__).resolve().parent))
from briefcase_config import REPO_ROOT, ConfigError, app_settings, merged_config

ANVIL_RELATIVE = Path("lib", "node_modules", "@foundry-rs", "anvil-linux-amd64", "bin", "anvil")
STDLIB_SKIP = {"site-packages", "test", "idlelib", "tkinter", "turtledemo", "ensurepip",
               "lib2to3", "__pycache__", "unittest/test"}
PY_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"

LAUNCHER = """#!/bin/sh
# OARN launcher: runs the bundled Python on the bundled app, isolated from the user's Python.
here=$(dirname "$(readlink -f "$0")")
root=$(dirname "$here")
LD_LIBRARY_PATH="$root/python/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# No user site, no current directory on sys.path (an `oarn_tui` folder there must not shadow the
# bundled app); the node's own child processes inherit these.
PYTHONNOUSERSITE=1
PYTHONSAFEPATH=1
export LD_LIBRARY_PATH PYTHONNOUSERSITE PYTHONSAFEPATH
unset PYTHONHOME PYTHONPATH
exec "$root/python/bin/python%(version)s" -m oarn_tui "$@"
"""

INSTALLER = """#!/bin/sh
# Install this OARN bundle: copies it to PREFIX/lib/oarn and links PREFIX/bin/oarn.
# Usage: ./install.sh [--prefix DIR]   (default ~/.local; /opt/oarn-style: --prefix /usr/local)
set -eu
prefix="$HOME/.local"
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix="$2"; shift 2 ;;
        --prefix=*) prefix="${1#--prefix=}"; shift ;;
        -h|--help) sed -n '2,3p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
src=$(dirname "$(readlink -f "$0")")
dest="$prefix/lib/oarn"
mkdir -p "$prefix/bin" "$prefix/lib" "$prefix/share/applications"
rm -rf "$dest.new"
cp -a "$src" "$dest.new"
rm -f "$dest.new/install.sh"
rm -rf "$dest"
mv "$dest.new" "$dest"
ln -sf "$dest/bin/oarn" "$prefix/bin/oarn"
desktop="$prefix/share/applications/network.oarn.desktop"
sed "s|@OARN_BIN@|$dest/bin/oarn|; s|@OARN_ICON@|$dest/share/icons/oarn-256.png|" \\
    "$dest/share/applications/network.oarn.desktop.in" > "$desktop"
echo "installed oarn %(version)s in $dest; run: $prefix/bin/oarn --help"
"""

DESKTOP = """[Desktop Entry]
Type=Application
Name=%(formal_name)s
Comment=%(description)s
Exec=@OARN_BIN@
Icon=@OARN_ICON@
Terminal=true
Categories=Network;System;
"""


class BuildError(RuntimeError):
    """The bundle cannot be built (missing anvil, interpreter, dependency)."""


def copy_interpreter(dest: Path) -> None:
    """The building interpreter's prefix: bin/pythonX.Y, libpython, the stdlib without tests."""
    base = Path(sys.base_prefix)
    (dest / "bin").mkdir(parents=True)
    shutil.copy2(Path(sys.base_prefix) / "bin" / f"python{PY_VERSION}", dest / "bin")
    (dest / "bin" / "python3").symlink_to(f"python{PY_VERSION}")
    libdir = Path(sysconfig.get_config_var("LIBDIR") or base / "lib")
    (dest / "lib").mkdir()
    for library in libdir.glob(f"libpython{PY_VERSION}*.so*"):
        shutil.copy2(library, dest / "lib", follow_symlinks=True)
    stdlib = Path(sysconfig.get_paths(vars={"base": str(base), "installed_base": str(base)})
                  ["stdlib"])
    target = dest / "lib" / f"python{PY_VERSION}"

    def ignore(directory: str, names: list[str]) -> set[str]:
        relative = Path(directory).relative_to(stdlib)
        return {name for name in names
                if str(relative / name).lstrip("./") in STDLIB_SKIP or name in STDLIB_SKIP
                or name.startswith("config-") or name.endswith(".pyc")}

    shutil.copytree(stdlib, target, ignore=ignore, symlinks=False)
    (target / "site-packages").mkdir()


def dependency_closure(roots: list[str]) -> list[metadata.Distribution]:
    """Installed distributions the requirement strings `roots` need (markers evaluated)."""
    seen: set[str] = set()
    found: dict[str, metadata.Distribution] = {}
    pending = [(Requirement(line), "") for line in roots]
    while pending:
        requirement, extra = pending.pop()
        if requirement.marker and not requirement.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(requirement.name)
        key = f"{name}[{','.join(sorted(requirement.extras))}]"
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError as error:
            raise BuildError(
                f"dependency {requirement} is not installed; use --deps pip") from error
        found[name] = dist
        for line in dist.requires or []:
            for wanted in ("", *sorted(requirement.extras)):
                pending.append((Requirement(line), wanted))
    return sorted(found.values(), key=lambda dist: dist.metadata["Name"].lower())


def copy_distribution(dist: metadata.Distribution, site_packages: Path) -> None:
    """Copy a distribution's files that live inside site-packages (not its scripts)."""
    base = Path(str(dist.locate_file(""))).resolve()
    for file in dist.files or []:
        relative = Path(str(file))
        if (relative.parts and relative.parts[0] == "..") or relative.suffix == ".pyc":
            continue
        source = base / relative
        if not source.is_file():
            continue
        target = site_packages / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def build_app_wheel(work: Path) -> Path:
    """A wheel of oarn-tui built from a clean copy of its sources (no build/ in the repo)."""
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO_ROOT / name, source / name)
    shutil.copytree(REPO_ROOT / "oarn_tui", source / "oarn_tui",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    wheels = work / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "-w", str(wheels), str(source)], check=True)
    found = sorted(wheels.glob("oarn_tui-*.whl"))
    if not found:
        raise BuildError("pip wheel produced no oarn_tui wheel")
    return found[0]


def install_packages(site_packages: Path, wheel: Path, deps: str, wheelhouse: Path | None,
                     requirements: list[str]) -> None:
    """The app wheel, and its dependencies from the environment (`env`) or pip (`pip`)."""
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile",
               "--target", str(site_packages), "--disable-pip-version-check"]
    if deps == "env":
        for dist in dependency_closure(requirements):
            copy_distribution(dist, site_packages)
        subprocess.run([*command, "--no-deps", str(wheel)], check=True)
        return
    if wheelhouse is not None:
        command += ["--no-index", "--find-links", str(wheelhouse)]
    subprocess.run([*command, str(wheel)], check=True)


def find_anvil_binary(explicit: Path | None) -> Path:
    candidates = [explicit] if explicit else [
        REPO_ROOT / "contracts" / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin"
        / "anvil"]
    for path in candidates:
        if path is not None and path.is_file():
            return path
    raise BuildError("anvil binary not found: run `npm ci` in contracts/ or pass --anvil PATH")


def write_text(path: Path, text: str, executable: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    if executable:
        path.chmod(0o755)


def build_bundle(out: Path, deps: str = "env", wheelhouse: Path | None = None,
                 anvil: Path | None = None, archive: bool = True, deb: bool = False) -> Path:
    """Build `<out>/oarn-<version>-linux-<arch>/` (and its .tar.gz); returns the directory."""
    app_name, settings = app_settings(merged_config())
    version = settings["version"]
    name = f"oarn-{version}-linux-{platform.machine()}"
    bundle = out / name
    staging = out / f".{name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    anvil_binary = find_anvil_binary(anvil)
    with tempfile.TemporaryDirectory(prefix="oarn-bundle-") as work:
        wheel = build_app_wheel(Path(work))
        copy_interpreter(staging / "python")
        site_packages = staging / "python" / "lib" / f"python{PY_VERSION}" / "site-packages"
        install_packages(site_packages, wheel, deps, wheelhouse, settings["dependencies"])
    anvil_target = staging / "python" / ANVIL_RELATIVE
    anvil_target.parent.mkdir(parents=True)
    shutil.copy2(anvil_binary, anvil_target)
    anvil_target.chmod(0o755)
    write_text(staging / "bin" / "oarn", LAUNCHER % {"version": PY_VERSION}, executable=True)
    write_text(staging / "install.sh", INSTALLER % {"version": version}, executable=True)
    write_text(staging / "share" / "applications" / "network.oarn.desktop.in",
               DESKTOP % {"formal_name": settings.get("formal_name", app_name),
                          "description": settings.get("description", "")})
    icons = REPO_ROOT / "assets" / "icons"
    for icon in sorted(icons.glob("oarn-*.png")):
        target = staging / "share" / "icons" / icon.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(icon, target)
    shutil.rmtree(bundle, ignore_errors=True)
    os.replace(staging, bundle)
    if archive:
        with tarfile.open(out / f"{name}.tar.gz", "w:gz", compresslevel=6) as tar:
            tar.add(bundle, arcname=name)
    if deb:
        build_deb(bundle, out, settings)
    return bundle


DEB_CONTROL = """Package: oarn
Version: %(version)s
Architecture: %(arch)s
Maintainer: %(maintainer)s
Depends: libc6 (>= %(glibc)s), bubblewrap, libseccomp2
Section: net
Priority: optional
Description: %(description)s
 OARN node: a terminal dashboard and headless daemon for the Open AI Research Network.
 Self-contained: ships its own Python and the anvil devnet chain under /opt/oarn.
"""


def build_deb(bundle: Path, out: Path, settings: dict[str, Any]) -> Path:
    """`oarn_<version>_<arch>.deb` holding the bundle in /opt/oarn (built with dpkg-deb)."""
    if not shutil.which("dpkg-deb"):
        raise BuildError("dpkg-deb not found (apt-get install dpkg)")
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    version = str(settings["version"])
    with tempfile.TemporaryDirectory(prefix="oarn-deb-") as work:
        root = Path(work) / "root"
        shutil.copytree(bundle, root / "opt" / "oarn", symlinks=True,
                        ignore=shutil.ignore_patterns("install.sh"))
        (root / "usr" / "bin").mkdir(parents=True)
        (root / "usr" / "bin" / "oarn").symlink_to("../../opt/oarn/bin/oarn")
        template = root / "opt" / "oarn" / "share" / "applications" / "network.oarn.desktop.in"
        desktop = root / "usr" / "share" / "applications" / "network.oarn.desktop"
        write_text(desktop, template.read_text().replace("@OARN_BIN@", "/usr/bin/oarn")
                   .replace("@OARN_ICON@", "/opt/oarn/share/icons/oarn-256.png"))
        authors = [str(author) for author in settings.get("authors") or [] if author]
        write_text(root / "DEBIAN" / "control", DEB_CONTROL % {
            "version": version, "arch": arch, "glibc": platform.libc_ver()[1] or "2.31",
            "maintainer": (authors[0] if authors else "OARN developers") + " <noreply@localhost>",
            "description": settings.get("description", "OARN node")})
        target = out / f"oarn_{version}_{arch}.deb"
        subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "-z1", "--build",
                        str(root), str(target)], check=True, capture_output=True)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the relocatable OARN Linux bundle.")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "dist")
    parser.add_argument("--deps", choices=("env", "pip"), default="env",
                        help="env: copy from this environment (offline); pip: install")
    parser.add_argument("--wheelhouse", type=Path, help="with --deps pip: install offline from DIR")
    parser.add_argument("--anvil", type=Path, help="anvil binary to bundle")
    parser.add_argument("--no-archive", action="store_true", help="skip the .tar.gz")
    parser.add_argument("--deb", action="store_true", help="also build a .deb (needs dpkg-deb)")
    args = parser.parse_args(argv)
    if sys.platform != "linux":
        print("error: the Linux bundle is built on Linux", file=sys.stderr)
        return 1
    try:
        bundle = build_bundle(args.out.resolve(), args.deps, args.wheelhouse, args.anvil,
                              archive=not args.no_archive, deb=args.deb)
    except (BuildError, ConfigError, subprocess.CalledProcessError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(bundle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
