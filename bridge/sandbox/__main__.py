from bridge.sandbox.cli import main

raise SystemExit(main())
