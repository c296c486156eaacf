# rewardds sandbox harness: the probe
"""Whether a sandbox can be made here: confine as the harness does and print ``sandbox-ok <uid>``."""
import os
import sys

if __name__ == "__main__":  # run by path inside the sandbox, never imported
    sys.path.insert(0, os.path.dirname(__file__))
    from harness import confine

    confine(256 << 20, 10)
    print("sandbox-ok", os.getuid())
