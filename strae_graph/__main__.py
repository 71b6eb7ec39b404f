from strae_graph.cli import main

raise SystemExit(main())
