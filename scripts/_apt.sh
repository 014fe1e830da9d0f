# Sourced by scripts/*: apt_install PKG... installs Debian packages as root without
# starting the services they ship (nsd, dnsdist, knot would otherwise start a system
# instance on port 53). A policy-rc.d that denies every start is put in place for
# the install only, and only if the machine has none of its own; nothing running
# is ever stopped. POLICY_RC_D names another place for it (the tests' own).
apt_install() {
    local guard="${POLICY_RC_D:-/usr/sbin/policy-rc.d}" placed=""
    export DEBIAN_FRONTEND=noninteractive
    if [ ! -e "$guard" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$guard" && chmod +x "$guard" && placed=1
    fi
    local status=0
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@" >/dev/null || status=$?
    if [ -n "$placed" ]; then rm -f "$guard"; fi
    return $status
}
