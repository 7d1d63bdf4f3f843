# Loaded by every Python the Azure CLI tier starts (PYTHONPATH names this folder): records each name
# the process resolves and each address it connects to, one line each, in the file NET_AUDIT_LOG
# names, through Python's audit hooks (PEP 578), so that the tier can prove every request az sent
# stayed on loopback.
import os
import sys

_log = os.environ.get("NET_AUDIT_LOG")


def _audit(event, args):
    if event == "socket.connect":
        address = args[1]
    elif event == "socket.getaddrinfo":
        address = args[:2]
    else:
        return
    with open(_log, "a", encoding="utf-8") as log:
        log.write(f"{event} {address!r}\n")


if _log:
    sys.addaudithook(_audit)
