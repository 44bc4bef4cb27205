from kybernetes.cli.main import main

raise SystemExit(main())
