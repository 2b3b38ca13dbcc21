"""Process per call: the fallback when the driver cannot be built, and the baseline
the benchmark measures the driver against.

Each evaluation is one start of a real Tinker program, run without a shell and with
a timeout, in the session's one work folder (no temporary folder per call):
``analyze … E`` for energies, ``testgrad … Y N N`` for gradients, ``testhess … Y N``
for analytical Hessians (the ``.hes`` file, read with the core's
:func:`~q2mm.io.tinker_output.read_hessian`), ``minimize … grdmin`` for relaxations.
The keyfile asks for ``digits 10`` so printed numbers keep their precision. A
program that exits with an error, or prints Tinker's "Unable to Continue", raises
:class:`TinkerError` with its own words.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
from q2mm.io.tinker_output import read_analyze, read_hessian
from q2mm.model.units import HESSIAN_AU_TO_KCALMOL_A2

from .driver import KEY_NAME, XYZ_NAME
from .errors import TinkerError
from .locate import TinkerInstall

_FATAL = "Unable to Continue"


def parse_testgrad(text: str) -> np.ndarray:
    """The analytical gradient (n, 3) from ``testgrad`` output: its ``Anlyt  i  gx gy gz``
    lines, kcal/(mol·Å)."""
    fields = [line.split() for line in text.splitlines()]
    return np.array([f[2:5] for f in fields if f[:1] == ["Anlyt"] and f[1].isdigit()], dtype=float)


def read_xyz_coordinates(path: Path) -> np.ndarray:
    """The coordinates (n, 3) of a Tinker XYZ file (columns 3–5 after the title line)."""
    rows = [line.split()[2:5] for line in path.read_text().splitlines()[1:] if line.strip()]
    return np.array(rows, dtype=float)


class Programs:
    """Tinker's programs, one start per call, for the structure in ``folder``."""

    def __init__(self, install: TinkerInstall, folder: Path, timeout: float, threads: int, xyz: str) -> None:
        self.install = install
        self.folder = folder
        self.timeout = timeout
        self.env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        head, *atoms = xyz.splitlines()
        self._head = head
        self._atoms = [line.split() for line in atoms]

    def write_coordinates(self, x: np.ndarray) -> None:
        """``structure.xyz`` at ``x`` with the session's atoms and connectivity."""
        lines = [self._head]
        for fields, (a, b, c) in zip(self._atoms, np.asarray(x, dtype=float).tolist(), strict=True):
            lines.append(" ".join([fields[0], fields[1], repr(a), repr(b), repr(c), *fields[5:]]))
        (self.folder / XYZ_NAME).write_text("\n".join(lines) + "\n")

    def run(self, program: str, *arguments: str) -> str:
        path = self.install.program(program)
        try:
            done = subprocess.run(
                [str(path), XYZ_NAME, *arguments],
                cwd=self.folder,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                env=self.env,
            )
        except subprocess.TimeoutExpired as exc:
            raise TinkerError(program, "", str(self.folder / KEY_NAME), f"ran past {self.timeout} s") from exc
        if done.returncode != 0 or _FATAL in done.stdout:
            words = done.stdout[-3000:] + done.stderr[-1000:]
            reason = f"failed (exit status {done.returncode})"
            raise TinkerError(program, words, str(self.folder / KEY_NAME), reason)
        (self.folder / f"{program}.out").write_text(done.stdout)
        return done.stdout

    def energy(self) -> float:
        self.run("analyze", "E")
        return read_analyze(self.folder / "analyze.out").total

    def gradient(self) -> np.ndarray:
        """kcal/(mol·Å), (n, 3), from testgrad's analytical lines."""
        return parse_testgrad(self.run("testgrad", "Y", "N", "N"))

    def hessian(self) -> np.ndarray:
        """kcal/(mol·Å²), (3N, 3N)."""
        hes = self.folder / "structure.hes"
        hes.unlink(missing_ok=True)
        self.run("testhess", "Y", "N")
        hessian = read_hessian(hes) * HESSIAN_AU_TO_KCALMOL_A2
        hes.unlink()
        return hessian

    def minimize(self, rms_gradient: float) -> np.ndarray:
        """Coordinates after Tinker's ``minimize`` to an RMS gradient per atom."""
        out_path = self.folder / f"{XYZ_NAME}_2"
        out_path.unlink(missing_ok=True)
        self.run("minimize", repr(rms_gradient))
        coordinates = read_xyz_coordinates(out_path)
        out_path.unlink()
        return coordinates
