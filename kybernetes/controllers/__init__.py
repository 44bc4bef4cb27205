"""Controllers: level-triggered reconcile loops over informers and one work queue each."""
