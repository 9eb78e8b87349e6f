"""`journeys keys`: API keys with roles, managed in the store directly (as admin, audited as
`cli:<os user>`). A new key is printed once; only its hash is kept."""

from __future__ import annotations

from typing import Annotated

import typer

from app.audit import Auditor, cli_actor
from app.keys import KeyService
from domain.roles import ROLE_HELP, ROLES, parse_role
from entrypoints.cli_common import Wide, console, fail, print_tables, service, table
from store.keys import KeyNameTaken, UnknownKey

keys_app = typer.Typer(
    help="API keys and their roles: "
    + "; ".join(f"{role} ({ROLE_HELP[role]})" for role in ROLES)
    + ".",
    no_args_is_help=True,
)


def _keys() -> KeyService:
    journeys = service()
    return KeyService(Auditor(journeys.store, journeys.clock, cli_actor()))


@keys_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Who or what uses the key, e.g. crm-sync.")],
    role: Annotated[str, typer.Option("--role", help=f"One of {', '.join(ROLES)}.")],
) -> None:
    """Create a key and print it: this is the only time it is shown."""
    try:
        made = _keys().create(name, parse_role(role))
    except (ValueError, KeyNameTaken) as exc:
        raise fail(str(exc)) from exc
    console.print(made.key, markup=False, highlight=False, soft_wrap=True)
    typer.echo(
        f"key {name!r} ({made.record.role}) created; store it now: it is not shown again",
        err=True,
    )


@keys_app.command("list")
def list_keys(wide: Wide = False) -> None:
    """Every key: name, role, created, last used, revoked (never the key itself)."""
    grid = table("name", "role", "created (UTC)", "last used (UTC)", "revoked (UTC)", wide=wide)
    for key in _keys().all():
        grid.add_row(
            key.name,
            key.role,
            f"{key.created_at:%Y-%m-%d %H:%M}",
            f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "-",
            f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "-",
        )
    print_tables(grid)


@keys_app.command("revoke")
def revoke(name: Annotated[str, typer.Argument(help="The key's name.")]) -> None:
    """Revoke a key: the API refuses it from now on (401)."""
    try:
        key = _keys().revoke(name)
    except UnknownKey as exc:
        raise fail(str(exc)) from exc
    console.print(f"revoked {key.name} ({key.role})", markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
