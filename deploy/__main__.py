from deploy.space import main

raise SystemExit(main())
