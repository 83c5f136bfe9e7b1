"""The `hashinsight` command: the server's commands (`backend.cli`) and the console's
(`hashinsight_tui.cli_commands`) under one root; `main.main` is the entry point."""
