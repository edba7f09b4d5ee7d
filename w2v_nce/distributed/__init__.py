"""Where the K model replicas of a run live, and how they are averaged (K = 1: one machine).

``replica`` is what every backend shares (the round plan and result, how a replica's trainer is
built, regrouping parts on a resume with another K), ``sync`` the averaging math (engine-free),
``inprocess`` the in-process backend (one machine; K > 1 for tests and quality sweeps),
``ray_backend`` the Ray Core backend (imported lazily: the package never imports Ray otherwise),
``backends`` the choice between them. The loop over rounds is ``w2v_nce.run.loop``.
"""
