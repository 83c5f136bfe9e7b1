"""The server side of the `hashinsight` command: one module per command family, as click commands.

Nothing here imports the console (`hashinsight_tui`); `hashinsight_cli.main` puts these and the
console's commands under one root group.
"""
