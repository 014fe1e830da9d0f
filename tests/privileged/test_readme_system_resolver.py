"""README.md's "Using the LS as a system resolver" block, run exactly as printed, as root.

The block is taken from the README by its heading (:mod:`support.readme`), so
the README and this test cannot drift. It needs no substitution: it names its
namespace ``dnslab-$$`` after the PID of the bash that runs it, which
:func:`support.readme.run_block` reports, so two runs at once never meet and
the test knows which namespace to look for afterwards. The block must:
resolve through the LS with glibc (``getent``), exit 0 under ``bash -e``
within :data:`BLOCK_TIMEOUT`, stop every process it started, and remove its
namespace and ``/etc/netns`` directory. Whatever it leaves is removed by the
test (processes by PID, the namespace by name) and fails it.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from support.netns import NETNS_DIR, ip, require_netns
from support.readme import block, run_block
from support.tools import require_tool

HEADING = "Using the LS as a system resolver"
BLOCK_TIMEOUT = 60.0        # seconds for the whole block; it takes about 1 s
NETNS_ETC = Path("/etc/netns")
# What the block's two getent lines print: zones/ts2.txt holds www.google.com, zones/ts1.txt www.ibm.com.
AHOSTS = [["8.8.8.8", "STREAM", "www.google.com"], ["8.8.8.8", "DGRAM"], ["8.8.8.8", "RAW"]]
HOSTS = [["129.42.38.10", "WWW.IBM.COM"]]


def test_system_resolver_block_resolves_through_the_ls_and_removes_what_it_made() -> None:
    require_netns()
    require_tool("getent")
    text = block(HEADING)
    etc_existed = NETNS_ETC.exists()
    ran = run_block(text, BLOCK_TIMEOUT)
    name = f"dnslab-{ran.pid}"
    leftovers = [path for path in (Path(NETNS_DIR) / name, NETNS_ETC / name) if path.exists()]
    try:
        assert ran.returncode == 0, ran.report()
        assert [line.split() for line in ran.stdout.splitlines()] == AHOSTS + HOSTS, ran.report()
        assert ran.left == [], f"the block left servers running\n{ran.report()}"
        assert leftovers == [], f"the block left {leftovers}\n{ran.report()}"
    finally:
        if (Path(NETNS_DIR) / name).exists():
            ip("netns", "del", name)
        shutil.rmtree(NETNS_ETC / name, ignore_errors=True)
        if not etc_existed:
            try:
                NETNS_ETC.rmdir()
            except OSError:
                pass
