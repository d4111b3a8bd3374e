"""Each package registers its own CLI commands (``<package>/cli.py``, ``register_cli``); the
``flask`` command lists the same commands as before."""

from __future__ import annotations

import inspect

import click
from flask import Flask

OWNERS = {
    "db": "core.cli",
    "config-table": "core.cli",
    "policy": "core.cli",
    "purge": "webauthn.cli",
    "unblock-device": "webauthn.cli",
    "mds": "webauthn.cli",
    "reissue-backup-code": "recovery.cli",
    "send-mail": "notify.cli",
    "clients": "embed.cli",
    "oidc": "embed.cli",
    "admin": "admin.cli",
}


def test_every_command_is_registered_by_its_own_package(app: Flask) -> None:
    commands = app.cli.list_commands(None)  # type: ignore[arg-type]
    assert set(OWNERS) <= set(commands)
    for name, module in OWNERS.items():
        command = app.cli.get_command(None, name)  # type: ignore[arg-type]
        assert command is not None
        if isinstance(command, click.Group):  # its subcommands are the package's functions
            callbacks = [each.callback for each in command.commands.values()]
        else:
            callbacks = [command.callback]
        for callback in callbacks:
            assert callback is not None
            assert inspect.unwrap(callback).__module__ == module, name


def test_the_database_group_keeps_its_subcommand(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["db", "--help"])
    assert result.exit_code == 0 and "upgrade" in result.output
