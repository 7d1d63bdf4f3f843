"""What cloud-init itself does with a VM's customData, as far as SSH host keys go, in a sandbox.

Usage: python3 cloudInitHostKeys.py SANDBOX_DIR < customData (base64 of the cloud-config)

Runs cloud-init's own code, the installed package's, end to end for the host keys:
1. decodes customData as the Azure datasource does with CustomData (whitespace dropped, base64);
2. turns the user-data into a cloud-config with cloud-init's user-data processor and its
   #cloud-config part handler (the file cloud-init keeps as instance/cloud-config.txt);
3. runs the cc_ssh module's handle() on it, with /etc/ssh pointed at SANDBOX_DIR/etc/ssh, where an
   image's stale RSA key pair has been planted first.
Prints one JSON object: the cloud-config's top-level keys, the files left in the sandbox's etc/ssh
(name, mode, content), the host keys cc_ssh would publish through the datasource, whether it
reached the authorized-keys step after them, and any warning it logged (it catches and logs its
own failures, so a failure would otherwise go unseen).

cc_ssh writes to fixed /etc/ssh paths, deletes /etc/ssh/ssh_host_*key* and sets up root's
authorized_keys. So that nothing on this machine can be touched, every file write, delete and
command cloud-init attempts outside the sandbox raises instead, and the credential step (not host
keys) is recorded rather than run.
"""

import base64
import glob as real_glob
import inspect
import json
import logging
import os
import sys

from cloudinit import helpers, subp, user_data, util
from cloudinit.config import cc_ssh
from cloudinit.handlers.cloud_config import CloudConfigPartHandler
from cloudinit.settings import PER_INSTANCE

sandbox = os.path.realpath(sys.argv[1])
etc_ssh = os.path.join(sandbox, "etc", "ssh")


def inside_sandbox(path):
    return os.path.realpath(path).startswith(sandbox + os.sep)


real_write_file, real_del_file = util.write_file, util.del_file


def guarded_write_file(filename, *args, **kwargs):
    if not inside_sandbox(filename):
        raise RuntimeError("refusing to write outside the sandbox: %s" % filename)
    return real_write_file(filename, *args, **kwargs)


def guarded_del_file(path):
    if not inside_sandbox(path):
        raise RuntimeError("refusing to delete outside the sandbox: %s" % path)
    return real_del_file(path)


def no_commands(*args, **kwargs):
    raise RuntimeError("refusing to run a command: %r" % (args,))


util.write_file, util.del_file, subp.subp = guarded_write_file, guarded_del_file, no_commands


class SandboxGlob:
    """cc_ssh's glob, with /etc/ssh/ meaning the sandbox's etc/ssh."""

    @staticmethod
    def glob(pattern):
        if pattern.startswith("/etc/ssh/"):
            pattern = os.path.join(etc_ssh, pattern[len("/etc/ssh/"):])
        if not inside_sandbox(pattern):
            raise RuntimeError("refusing to list outside the sandbox: %s" % pattern)
        return real_glob.glob(pattern)


# 1. DataSourceAzure (OvfEnvXml._parse_property, decode_base64) reads CustomData like this.
custom_data = sys.stdin.read()
raw = base64.b64decode("".join(custom_data.split()))

# 2. User-data -> cloud-config, as stages.py's consume step does for a #cloud-config part.
paths = helpers.Paths(
    {"cloud_dir": os.path.join(sandbox, "var", "lib", "cloud"), "run_dir": os.path.join(sandbox, "run", "cloud-init")}
)
message = user_data.UserDataProcessor(paths).process(raw)
handler = CloudConfigPartHandler(paths)
handler.cloud_fn = os.path.join(sandbox, "cloud-config.txt")
handler.handle_part(None, "__begin__", None, None, None, None)
for part in message.walk():
    if part.is_multipart():
        continue
    payload = part.get_payload(decode=True).decode("utf-8")
    handler.handle_part(None, part.get_content_type(), part.get_filename(), payload, PER_INSTANCE, part)
handler.handle_part(None, "__end__", None, None, None, None)
cfg = util.load_yaml(util.load_file(handler.cloud_fn)) or {}

# 3. cc_ssh against the sandbox's etc/ssh, holding the stale keys a stock image ships with.
os.makedirs(etc_ssh)
for name in ("ssh_host_rsa_key", "ssh_host_rsa_key.pub"):
    with open(os.path.join(etc_ssh, name), "w") as stale:
        stale.write("a key baked into the image\n")
cc_ssh.KEY_FILE_TPL = os.path.join(etc_ssh, "ssh_host_%s_key")
for key, (path, mode) in list(cc_ssh.CONFIG_KEY_TO_FILE.items()):
    cc_ssh.CONFIG_KEY_TO_FILE[key] = (os.path.join(etc_ssh, os.path.basename(path)), mode)
cc_ssh.glob = SandboxGlob
credentials = []
cc_ssh.apply_credentials = lambda *args: credentials.append(args)
published = []


class Datasource:
    def publish_host_keys(self, keys):
        published.extend([list(key) for key in keys])


class Distro:
    @staticmethod
    def get_default_user():
        return {"name": "azureuser"}


class Cloud:
    datasource = Datasource()
    distro = Distro()

    @staticmethod
    def get_public_ssh_keys():
        return []


# cc_ssh catches its own failures and only logs them: collect what it logs, so none goes unseen.
warnings = []


class Collect(logging.Handler):
    def emit(self, record):
        warnings.append(record.getMessage())


logging.getLogger().addHandler(Collect(level=logging.WARNING))


args = ["cc_ssh", cfg, Cloud(), logging.getLogger("cc_ssh"), []]
if "log" not in inspect.signature(cc_ssh.handle).parameters:
    del args[3]  # cloud-init 23.1 and later: handle(name, cfg, cloud, args)
cc_ssh.handle(*args)

files = {}
for name in sorted(os.listdir(etc_ssh)):
    path = os.path.join(etc_ssh, name)
    with open(path) as key_file:
        files[name] = {"mode": "%o" % (os.stat(path).st_mode & 0o777), "content": key_file.read()}
print(
    json.dumps(
        {
            "cloudConfigKeys": sorted(cfg),
            "files": files,
            "published": sorted(published),
            "credentialSteps": len(credentials),
            "warnings": warnings,
        }
    )
)
