# rewardds sandbox harness: the probe
"""Whether a sandbox can be made here: read the other programs as they will be read (before the uid
drop), confine as the harness does and print ``sandbox-ok <uid>``."""
import os
import sys

if __name__ == "__main__":  # run by path inside the sandbox, never imported
    here = os.path.dirname(__file__)
    sys.path.insert(0, here)
    from harness import confine

    for name in ("codec.py", "solution.py", "judge.py"):
        with open(os.path.join(here, name), "rb"):
            pass
    confine(256 << 20, 10)
    print("sandbox-ok", os.getuid())
