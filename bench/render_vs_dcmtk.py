"""Our render_frame beside DCMTK's dcmj2pnm, file by file: max and mean difference in grey levels.

Every pydicom bundled image that dcmj2pnm reads, greyscale at the file's window
(+Wi 1, or +Wm without one), at 40/400 and at 100/1; colour as it is.

    .venv/bin/python bench/render_vs_dcmtk.py [--all]   (--all: list files within one level too)
"""

import argparse
import logging
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--all", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    logging.getLogger("pydicom").setLevel(logging.CRITICAL)
    from pydicom.data import get_testdata_files

    from tests.support.reference import compare_file

    rows = []
    for name in sorted(get_testdata_files()):
        path = Path(name)
        if path.is_file():
            rows.extend(compare_file(path))
    print(f"{'file':48} {'window':12} {'max':>4} {'mean':>8}  shape")
    for row in rows:
        if args.all or row.max_difference > 1:
            print(f"{row.name:48} {row.mode:12} {row.max_difference:4d} {row.mean_difference:8.4f}  {row.shape}")
    within = sum(1 for row in rows if row.max_difference <= 1)
    print(
        f"\n{len(rows)} comparisons over {len({r.name for r in rows})} files; {within} within one grey level; "
        f"largest mean difference {max(r.mean_difference for r in rows):.4f}"
    )


if __name__ == "__main__":
    main()
