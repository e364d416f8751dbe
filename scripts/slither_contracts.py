"""Run Slither on contracts/ through the solcjs wrapper (standard-JSON only), offline.

crytic-compile's CLI path calls `solc --combined-json`, which the wrapper does not speak; its
SolcStandardJson platform speaks standard JSON, so the compilation is driven from Python here.
Exit status 1 when a High or Medium finding remains (excluding those triaged in TRIAGED).
"""
import pathlib
import sys

from crytic_compile import CryticCompile
from crytic_compile.platform.solc_standard_json import SolcStandardJson
from slither import Slither
from slither.detectors import all_detectors
from slither.detectors.abstract_detector import AbstractDetector

ROOT = pathlib.Path(__file__).resolve().parent.parent
# Findings reviewed and explained in a code comment at the flagged line: (detector, contract).
TRIAGED = set()


def main():
    platform = SolcStandardJson()
    for path in sorted((ROOT / "contracts").rglob("*.sol")):
        platform.add_source_file(str(path.relative_to(ROOT)))
    platform.add_remapping("@openzeppelin/=node_modules/@openzeppelin/")
    compilation = CryticCompile(platform, solc=str(ROOT / "compilers" / "solc-v0.8.28"), solc_working_dir=str(ROOT))
    slither = Slither(compilation, filter_paths=["node_modules"])
    for name in dir(all_detectors):
        det = getattr(all_detectors, name)
        if isinstance(det, type) and issubclass(det, AbstractDetector) and det is not AbstractDetector:
            slither.register_detector(det)
    failing = 0
    for results in slither.run_detectors():
        for result in results:
            impact = result["impact"]
            print(f"[{impact}] {result['check']}: {result['description'].strip()}")
            if impact in ("High", "Medium") and result["check"] not in TRIAGED:
                failing += 1
    print(f"slither: {failing} unexplained high/medium finding(s)")
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
