"""Alembic environment: the URL comes from the caller (rcmbot) or `-x url=...`."""

from alembic import context
from sqlalchemy import Connection, create_engine

from bots.worklist.schema import Base

config = context.config
connection = config.attributes.get("connection")


def run(conn: Connection) -> None:
    context.configure(connection=conn, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    run(connection)
else:
    with create_engine(context.get_x_argument(as_dictionary=True)["url"]).connect() as conn:
        run(conn)
