"""Build hook only; the metadata is declarative in setup.cfg.

``manifests/`` is the only copy of every manifest in the repository. A regular (non-editable)
build copies each manifest into the package that owns it, so installed code finds it without the
repository; editable installs read ``manifests/`` in place.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
# package -> the manifest files it carries when installed
MANIFEST_HOMES = {
    "tqops": ["manifest.schema.json"],
    "dcso_tie_operation": ["dcso_tie.yaml"],
    "tego_operation": ["tego.yaml"],
}


class BuildWithManifests(build_py):
    def run(self) -> None:
        super().run()
        for package, names in MANIFEST_HOMES.items():
            target = Path(self.build_lib) / package
            if not target.is_dir():
                continue
            for name in names:
                source = HERE / "manifests" / name
                if source.is_file():
                    self.copy_file(str(source), str(target / name))


setup(cmdclass={"build_py": BuildWithManifests})
