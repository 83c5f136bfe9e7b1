"""`python -m hashinsight_cli ARGS` runs `hashinsight ARGS`."""

from hashinsight_cli.main import main

raise SystemExit(main())
