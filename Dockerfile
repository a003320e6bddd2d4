# syntax=docker/dockerfile:1
# Asterisk (Debian's package) and callshield in one container. A starting point for users:
# the project's tests do not build this image (docs/asterisk.md#docker).
#
#   docker compose up -d --build
#
# Replace the sample configuration by mounting your own files over
# /etc/asterisk/{pjsip,extensions,manager}.conf and /etc/callshield/callshield.yaml.

FROM debian:sid

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        asterisk asterisk-modules python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# callshield into its own virtual environment: the runtime only (no train extra: serve scores
# with the bundled model through its compiled trees, without LightGBM or numpy).
COPY pyproject.toml README.md /src/callshield/
COPY callshield /src/callshield/callshield
RUN python3 -m venv /opt/callshield \
 && /opt/callshield/bin/pip install --no-cache-dir /src/callshield \
 && rm -rf /src/callshield

RUN useradd --system --home-dir /srv/callshield --create-home --shell /usr/sbin/nologin callshield

# The samples: the include, the dialplan, PJSIP, AMI, and callshield's configuration.
# Debian's own extensions.ael/.lua are removed so that the dialplan is only ours.
COPY asterisk-conf/extensions_callshield.conf /etc/asterisk/extensions_callshield.conf
COPY asterisk-conf/extensions.sample.conf /etc/asterisk/extensions.conf
COPY asterisk-conf/pjsip.sample.conf /etc/asterisk/pjsip.conf
COPY asterisk-conf/manager.sample.conf /etc/asterisk/manager.conf
COPY callshield.sample.yaml /etc/callshield/callshield.yaml
RUN rm -f /etc/asterisk/extensions.ael /etc/asterisk/extensions.lua

COPY <<'ENTRYPOINT_SCRIPT' /usr/local/bin/callshield-entrypoint
#!/bin/bash
# Start Asterisk and callshield; stop both when either exits or the container stops.
set -euo pipefail

install -d -o asterisk -g asterisk /run/asterisk
install -d -o callshield -g callshield /srv/callshield/var
chown -R callshield:callshield /srv/callshield/var

# Never run AMI with the sample's placeholder secret.
if grep -q 'CHANGE-ME-to-a-long-random-secret' /etc/asterisk/manager.conf 2>/dev/null; then
    if [ -w /etc/asterisk/manager.conf ]; then
        secret=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
        sed -i "s/CHANGE-ME-to-a-long-random-secret/$secret/" /etc/asterisk/manager.conf
        echo "callshield-entrypoint: manager.conf had the sample secret; replaced it with a random one" >&2
    else
        echo "callshield-entrypoint: manager.conf still has the sample secret; change it" >&2
        exit 1
    fi
fi

cd /srv/callshield
setpriv --reuid=callshield --regid=callshield --init-groups -- \
    /opt/callshield/bin/callshield serve --config "${CALLSHIELD_CONFIG:-/etc/callshield/callshield.yaml}" &
callshield=$!
/usr/sbin/asterisk -f -U asterisk -G asterisk &
asterisk=$!

trap 'kill -TERM "$callshield" "$asterisk" 2>/dev/null || true' TERM INT
wait -n "$callshield" "$asterisk" || true
kill -TERM "$callshield" "$asterisk" 2>/dev/null || true
wait || true
ENTRYPOINT_SCRIPT

# The direct health probe of docs/asterisk.md: the FastAGI script "health" must answer OK.
COPY <<'PROBE_SCRIPT' /usr/local/bin/callshield-probe
#!/bin/bash
# callshield-probe [HOST] [PORT]: exit 0 if callshield answers OK, 1 otherwise, 2 if unreachable.
host=${1:-127.0.0.1} port=${2:-4573}
exec 3<>"/dev/tcp/$host/$port" 2>/dev/null || exit 2
printf 'agi_network_script: health\nagi_channel: monitor\n\n' >&3
IFS= read -r -t 3 line <&3 || exit 2
printf '200 result=1\n' >&3
exec 3>&-
case "$line" in
  'SET VARIABLE CALLSHIELD_HEALTH "OK"') echo OK; exit 0 ;;
  *) echo "${line#SET VARIABLE CALLSHIELD_HEALTH }"; exit 1 ;;
esac
PROBE_SCRIPT

RUN chmod 0755 /usr/local/bin/callshield-entrypoint /usr/local/bin/callshield-probe

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s CMD ["/usr/local/bin/callshield-probe"]

WORKDIR /srv/callshield
VOLUME ["/srv/callshield/var"]
ENTRYPOINT ["/usr/local/bin/callshield-entrypoint"]
