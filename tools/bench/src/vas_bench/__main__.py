from vas_bench.cli import main

raise SystemExit(main())
