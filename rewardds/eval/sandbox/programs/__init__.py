"""The programs that run inside the sandbox, as scripts: ``python -I -B -S -X utf8 <program>.py``.

Standard library only (the sandbox sees nothing else): :mod:`.harness` (confinement, reading the
job), :mod:`.codec` (plain values as JSON), :mod:`.solution` (runs the untrusted code), :mod:`.judge`
(holds the tests, writes the verdict) and :mod:`.probe` (checks that a sandbox can be made). The
runner binds each file read-only into the sandbox (``rewardds.eval.sandbox.bwrap``); on the host
``harness`` and ``codec`` import as ordinary modules (their unit tests), while ``solution``, ``judge``
and ``probe`` confine the process they run in and are only ever run inside the sandbox.
"""
