"""Import nlb_tools from a given checkout, as the conformance scripts need it.

nlb_tools' make_tensors imports its NWB reader (nwb_interface), which imports pynwb at module
level. The conformance files are synthetic and never read an NWB file, so when pynwb is not
installed (Debian has no package for it) a placeholder module stands in for it: only the names
nwb_interface imports exist, and using any of them fails loudly.
"""

import importlib
import os
import sys
import types

NEEDED = ["numpy", "h5py", "scipy", "sklearn", "pandas"]
DEBIAN = "python3-numpy python3-h5py python3-scipy python3-sklearn python3-pandas"


def missing_packages():
    """The Python packages nlb_tools needs that this interpreter cannot import."""
    out = []
    for name in NEEDED:
        try:
            importlib.import_module(name)
        except ImportError:
            out.append(name)
    return out


def _placeholder(name):
    def refuse(*_args, **_kwargs):
        raise RuntimeError(
            f"pynwb.{name} is a placeholder (pynwb is not installed); the conformance "
            "checks never read NWB files"
        )

    return type(name, (), {"__init__": refuse})


def _stub_pynwb():
    try:
        importlib.import_module("pynwb")
        return False
    except ImportError:
        pass
    pynwb = types.ModuleType("pynwb")
    core = types.ModuleType("pynwb.core")
    for n in ["NWBFile", "NWBHDF5IO", "TimeSeries", "ProcessingModule"]:
        setattr(pynwb, n, _placeholder(n))
    for n in ["MultiContainerInterface", "NWBDataInterface"]:
        setattr(core, n, _placeholder(n))
    pynwb.core = core
    sys.modules["pynwb"] = pynwb
    sys.modules["pynwb.core"] = core
    return True


def import_nlb_tools(root):
    """(make_tensors, evaluation) of the nlb_tools checkout at `root` (the folder holding the
    nlb_tools package). Exits with a message naming what is missing."""
    lacking = missing_packages()
    if lacking:
        sys.exit(
            f"{sys.executable} cannot import {', '.join(lacking)}, which nlb_tools needs; "
            f"on Debian: apt-get install {DEBIAN} (or set PYTHON to an interpreter that has them)"
        )
    pkg = os.path.join(root, "nlb_tools")
    for f in ["__init__.py", "make_tensors.py", "evaluation.py"]:
        if not os.path.isfile(os.path.join(pkg, f)):
            sys.exit(
                f"no nlb_tools checkout at {root}: expected {os.path.join(pkg, f)} "
                "(give the folder that holds the nlb_tools package with --nlb-tools or NLB_TOOLS)"
            )
    sys.path.insert(0, os.path.abspath(root))
    _stub_pynwb()
    make_tensors = importlib.import_module("nlb_tools.make_tensors")
    evaluation = importlib.import_module("nlb_tools.evaluation")
    where = os.path.dirname(os.path.abspath(evaluation.__file__))
    if where != os.path.abspath(pkg):
        sys.exit(f"imported nlb_tools from {where}, expected {os.path.abspath(pkg)}")
    return make_tensors, evaluation
