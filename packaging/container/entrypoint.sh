#!/bin/sh
# First start of a node container: create the home (joining $OARN_DEVNET when set) and, when a
# passphrase file is given, a wallet funded and staked on the devnet. Then run the command
# (`oarn --daemon`).
set -eu
if [ ! -f "$OARN_HOME/config.toml" ]; then
    if [ -n "${OARN_DEVNET:-}" ]; then
        oarn init --devnet "$OARN_DEVNET" --name "${OARN_NODE_NAME:-$(hostname)}"
    else
        oarn init --name "${OARN_NODE_NAME:-$(hostname)}"
    fi
fi
if [ -n "${OARN_PASSWORD_FILE:-}" ] && [ ! -f "$OARN_HOME/wallet.vault" ]; then
    oarn wallet create --mnemonic-file "$OARN_HOME/recovery-phrase.txt"
    if [ -n "${OARN_DEVNET:-}" ]; then
        oarn devnet fund --state "$OARN_DEVNET" --eth 10 --gov 200 "$(oarn wallet address)" >/dev/null
        oarn stake 100 >/dev/null  # claiming tasks needs 100 GOV staked
    fi
fi
exec "$@"
