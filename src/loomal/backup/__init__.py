"""Backup, restore, migrate and verify: a store's rows, moved or checked whole.

    tables        which tables are carried (one line per table), in insert order
    file_format   the backup file: header, streamed frames, manifest, checksummed footer
    copying       backup to a file, restore from one, migrate store to store (streaming)
    verification  open every credential with the master keys, naming what fails

The SQL below the Store protocol (a snapshot reader, a one-transaction row
writer) is in :mod:`loomal.store.backup_sql`; the commands in
:mod:`loomal.cli.admin_backup`.
"""
